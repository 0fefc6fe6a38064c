//! Which broker this service talks to, in the page header.

use crate::model::{BrokerInfo, BrokerKind};
use leptos::prelude::*;

#[component]
pub fn BrokerBadge(info: BrokerInfo) -> impl IntoView {
    let (label, title) = match info.kind {
        BrokerKind::Embedded => (
            "Embedded Tansu · in-memory".to_owned(),
            "A broker started by this service: data is lost when the service stops.".to_owned(),
        ),
        BrokerKind::External => {
            ("External Kafka".to_owned(), "The cluster named by KAFKA_BOOTSTRAP_SERVERS.".to_owned())
        }
    };
    let health = if info.ready { "ready" } else { "not ready" };
    view! {
        <div class="broker-badge" class:down=!info.ready title=title data-testid="broker-badge"
            data-kind=format!("{:?}", info.kind).to_lowercase()>
            <span class="dot" aria-hidden="true"></span>
            <span>{label}</span>
            <code>{info.bootstrap_servers}</code>
            <span class="muted">{health}</span>
            {(!info.replica.is_empty()).then(|| view! {
                <span class="replica" data-testid="replica" title=format!("replicas alive: {}", info.replicas.join(", "))>
                    {format!("served by {} · {} replica(s)", info.replica, info.replicas.len().max(1))}
                </span>
            })}
            {info.reason.map(|r| view! { <span class="error-text">{r}</span> })}
            {info.last_producer_error.map(|e| view! {
                <span class="producer-event" role="status" data-testid="producer-event">{e}</span>
            })}
        </div>
    }
}
