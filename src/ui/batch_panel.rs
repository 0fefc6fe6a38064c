//! "Send N events" (on the Lab page): one batch through the batch core, the same one
//! `POST /api/v1/batches` reaches; the answer counts what was sent and what failed.

use super::fields::{RadioGroup, RadioOption, TextField};
use crate::model::{BatchAnswer, ProducerMode, SendMode};
use crate::server_fns::SendBatch;
use leptos::prelude::*;

fn summary(answer: &BatchAnswer) -> String {
    let verb = if answer.send_mode == SendMode::Sync { "delivered" } else { "accepted" };
    format!(
        "{} of {} {verb} to {} ({} producer), {} failed",
        answer.succeeded, answer.records, answer.topic, answer.mode, answer.failed
    )
}

#[component]
pub fn BatchPanel() -> impl IntoView {
    let action = ServerAction::<SendBatch>::new();
    let (mode, send_mode, count) =
        (RwSignal::new("idempotent".to_owned()), RwSignal::new("sync".to_owned()), RwSignal::new("100".to_owned()));
    let modes: Vec<RadioOption> = ProducerMode::ALL.iter().map(|m| (m.as_str(), m.as_str(), None)).collect();
    let send_modes: Vec<RadioOption> = vec![("sync", "sync", None), ("async", "async", None)];
    let error = Signal::derive(move || match action.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(SendBatch {
            mode: Some(mode.get_untracked()),
            send_mode: Some(send_mode.get_untracked()),
            topic: None,
            count: Some(count.get_untracked()),
        });
    };
    view! {
        <form class="card batch-panel" on:submit=submit data-testid="batch-panel">
            <h2>"Send N events"</h2>
            <RadioGroup name="batch_mode" legend="Producer" value=mode options=modes/>
            <RadioGroup name="batch_send_mode" legend="Send mode" value=send_mode options=send_modes/>
            <TextField name="batch_count" label="Events" value=count error=error inputmode="numeric"/>
            <button type="submit" class="primary" data-testid="batch-button" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Sending…" } else { "Send batch" }}
            </button>
            {move || action.value().get().and_then(Result::ok).map(|a| view! {
                <p class="result" data-testid="batch-result">{summary(&a)}</p>
            })}
        </form>
    }
}
