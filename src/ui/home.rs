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
    // Set once the broker's answer is in, in the browser. Never read synchronously while the
    // resource may be loading: on the server such a read blocks a tokio worker until the resource
    // is written, and a page request hung for good that way (tests/pages.rs, under load). The
    // server renders the seed's default as the placeholder; the page corrects it once hydrated.
    let default_topic = RwSignal::new(DEFAULT_TOPIC.to_owned());
    Effect::new(move |_| {
        if let Some(Ok(info)) = broker.get() {
            default_topic.set(info.default_topic);
        }
    });
    let default_topic: Signal<String> = default_topic.into();
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
