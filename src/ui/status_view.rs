//! How one send's status reads on the page, and a live version that polls until it settles.

use super::poll::poll_with_backoff;
use crate::error::AppError;
use crate::model::{DeliveryState, SendStatus};
use crate::server_fns::get_status;
use leptos::either::Either;
use leptos::prelude::*;
use std::time::Duration;
use uuid::Uuid;

#[component]
pub fn StateBadge(state: DeliveryState) -> impl IntoView {
    let class = match state {
        DeliveryState::Pending => "badge badge-pending",
        DeliveryState::Ok => "badge badge-ok",
        DeliveryState::Error => "badge badge-error",
        DeliveryState::Unknown => "badge badge-unknown",
    };
    view! { <span class=class data-testid="state">{state.as_str()}</span> }
}

/// The facts of a status: state, where it landed or why it failed.
#[component]
pub fn StatusFacts(status: SendStatus) -> impl IntoView {
    let where_ = match (status.partition, status.offset) {
        (Some(p), Some(o)) => Some(view! {
            <span>"partition " <b data-testid="partition">{p}</b> ", offset " <b data-testid="offset">{o}</b></span>
        }),
        _ => None,
    };
    let latency = status.latency_ms.map(|ms| format!("{ms:.1} ms"));
    let record = status.record.map(|r| {
        let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let headers = (!headers.is_empty()).then(|| format!(" · headers {}", headers.join(", ")));
        view! { <span class="muted" data-testid="status-record">{format!("value {} bytes", r.value_bytes)} {headers}</span> }
    });
    view! {
        <div class="status-facts" data-testid="status-facts">
            <StateBadge state=status.state/>
            {where_}
            {status.error.map(|e| view! { <span class="error-text" data-testid="status-error">{e}</span> })}
            {latency.map(|l| view! { <span class="muted">"broker ack " {l}</span> })}
            {record}
        </div>
    }
}

/// A status that keeps itself current: polls fast at first, then less often, until OK or
/// ERROR, and stops when it leaves the page.
#[component]
pub fn LiveStatus(request_id: Uuid, #[prop(optional)] initial: Option<SendStatus>) -> impl IntoView {
    let status = RwSignal::new(initial);
    let failure = RwSignal::new(None::<AppError>);
    poll_with_backoff(Duration::from_millis(100), Duration::from_secs(2), move || async move {
        match get_status(Some(request_id.to_string())).await {
            Ok(s) => {
                let again = !s.state.is_terminal();
                status.try_set(Some(s));
                failure.try_set(None);
                again
            }
            Err(e) => {
                // An unknown id will not appear later; a network hiccup may pass.
                let again = !matches!(e, AppError::NotFound { .. });
                failure.try_set(Some(e));
                again
            }
        }
    });
    view! {
        <div class="live-status" data-testid="live-status" aria-live="polite">
            <div class="muted small">"request " <code data-testid="request-id">{request_id.to_string()}</code></div>
            {move || match status.get() {
                Some(s) => Either::Left(view! { <StatusFacts status=s/> }),
                None => Either::Right(view! { <StateBadge state=DeliveryState::Pending/> }),
            }}
            {move || failure.get().map(|e| view! { <p class="error-text">{e.to_string()}</p> })}
        </div>
    }
}
