//! The send page: the form and its result on one side, lookup and recent sends on the other.

use super::recent_sends::RecentSends;
use super::send_form::SendForm;
use super::status_lookup::StatusLookup;
use crate::error::AppError;
use crate::model::{BrokerInfo, DEFAULT_TOPIC};
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let broker = expect_context::<Resource<Result<BrokerInfo, AppError>>>();
    let default_topic = Signal::derive(move || {
        broker.get().and_then(Result::ok).map(|b| b.default_topic).unwrap_or_else(|| DEFAULT_TOPIC.to_owned())
    });
    let sends_changed = RwSignal::new(0u32);
    view! {
        <div class="columns">
            <div class="column">
                <SendForm default_topic sends_changed/>
            </div>
            <div class="column">
                <StatusLookup/>
                <RecentSends sends_changed/>
            </div>
        </div>
    }
}
