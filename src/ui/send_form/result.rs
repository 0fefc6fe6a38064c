//! The answer to the last send, as the form shows it.

use crate::error::AppError;
use crate::model::{SendAnswer, SendOutcome};
use crate::ui::status_view::LiveStatus;
use leptos::either::EitherOf4;
use leptos::prelude::*;

/// Shown when the answer is the recorded one of an earlier submission with the same key.
fn replayed_badge(replayed: bool) -> impl IntoView {
    replayed.then(|| {
        view! {
            <span class="badge badge-replayed" data-testid="replayed"
                title="The answer recorded for this submission's Idempotency-Key: nothing was sent again">
                "replayed"
            </span>
        }
    })
}

/// The answer to the last send: delivered (sync), accepted with a live status (async), or why not.
#[component]
pub fn SendResult(
    result: Signal<Option<Result<SendAnswer, AppError>>>,
    round_trip: RwSignal<Option<f64>>,
) -> impl IntoView {
    move || {
        result.get().map(|r| match r.map(|a| (a.outcome, a.replayed)) {
            Ok((SendOutcome::Delivered(d), replayed)) => EitherOf4::A(view! {
                <div class="result result-ok" data-testid="send-result" aria-live="polite">
                    <p>
                        <span class="badge badge-ok" data-testid="state">"OK"</span>
                        {replayed_badge(replayed)}
                        " partition " <b data-testid="partition">{d.partition}</b>
                        ", offset " <b data-testid="offset">{d.offset}</b>
                    </p>
                    <p class="muted small">
                        {round_trip.get().map(|rt| format!("round trip {rt:.0} ms, "))}
                        {format!("broker ack {:.1} ms", d.latency_ms)}
                        " · request " <code>{d.request_id.to_string()}</code>
                    </p>
                </div>
            }),
            Ok((SendOutcome::Accepted(a), replayed)) => EitherOf4::B(view! {
                <div class="result" data-testid="send-result">
                    <p>"Accepted (async). Delivery report:" {replayed_badge(replayed)}</p>
                    <LiveStatus request_id=a.request_id/>
                </div>
            }),
            Err(e) if e.field().is_some() => EitherOf4::C(()),
            Err(e) => EitherOf4::D(view! {
                <div class="result result-error" role="alert" data-testid="send-error">
                    <b>{e.title()}</b> ": " {e.to_string()}
                </div>
            }),
        })
    }
}
