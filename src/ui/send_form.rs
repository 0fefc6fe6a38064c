//! The send form: every option of the REST API, validated in the browser with the server's
//! own rules, and still a plain HTML form post when JavaScript is off.

use super::event_id::fresh_event_id;
use super::fields::{RadioGroup, TextField};
use super::poll::now_ms;
use super::status_view::LiveStatus;
use crate::error::AppError;
use crate::model::{Field, ProducerMode, SendOutcome, SendParams};
use crate::server_fns::SendEvent;
use leptos::either::EitherOf4;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// `Some(text)` for a non-blank field, as the server function's optional arguments expect.
fn given(s: String) -> Option<String> {
    (!s.trim().is_empty()).then_some(s)
}

#[component]
pub fn SendForm(
    /// The server's default topic (shown as the topic's placeholder).
    #[prop(into)]
    default_topic: Signal<String>,
    /// Bumped after every answer, so lists of sends refresh.
    sends_changed: RwSignal<u32>,
) -> impl IntoView {
    let action = ServerAction::<SendEvent>::new();
    let mode = RwSignal::new(ProducerMode::Idempotent.as_str().to_owned());
    let event_id = RwSignal::new(fresh_event_id());
    let topic = RwSignal::new(String::new());
    let send_mode = RwSignal::new("sync".to_owned());
    let key = RwSignal::new(String::new());
    let partition = RwSignal::new(String::new());
    let attempted = RwSignal::new(false);
    let sent_at = RwSignal::new(None::<f64>);
    let round_trip = RwSignal::new(None::<f64>);

    let params = move || SendParams {
        mode: Some(mode.get()),
        event_id: Some(event_id.get()),
        topic: given(topic.get()),
        send_mode: Some(send_mode.get()),
        key: given(key.get()),
        partition: given(partition.get()),
    };
    let client_error = Memo::new(move |_| params().validate(&default_topic.get()).err());
    let field_error = move |field: Field| {
        Signal::derive(move || {
            if let Some(e) = client_error.get().filter(|e| e.field == field) {
                if attempted.get() || !e.message.starts_with("Missing") {
                    return Some(e.message);
                }
            }
            match action.value().get() {
                Some(Err(e)) if e.field() == Some(field) => Some(e.to_string()),
                _ => None,
            }
        })
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        attempted.set(true);
        if client_error.get_untracked().is_some() {
            return;
        }
        sent_at.set(Some(now_ms()));
        round_trip.set(None);
        action.dispatch(SendEvent {
            mode: Some(mode.get_untracked()),
            event_id: Some(event_id.get_untracked()),
            topic: given(topic.get_untracked()),
            send_mode: Some(send_mode.get_untracked()),
            key: given(key.get_untracked()),
            partition: given(partition.get_untracked()),
        });
    };
    Effect::new(move |_| {
        if let Some(result) = action.value().get() {
            if let Some(t0) = sent_at.get_untracked() {
                round_trip.set(Some(now_ms() - t0));
            }
            sends_changed.update(|n| *n += 1);
            // The next event gets its own id; sending one twice is what the Lab's client-retry shows.
            if result.is_ok() {
                event_id.set(fresh_event_id());
            }
        }
    });

    let modes = ProducerMode::ALL
        .iter()
        .map(|m| (m.as_str(), if *m == ProducerMode::Plain { "Plain" } else { "Idempotent" }, Some(m.guarantee())))
        .collect::<Vec<_>>();
    let send_modes = vec![
        ("sync", "Sync", Some("Wait for the broker's acknowledgement: partition and offset in the answer.")),
        ("async", "Async", Some("Answer at once with a request id; the status follows.")),
    ];
    view! {
        <form class="card send-form" method="post" action=SendEvent::url() on:submit=on_submit novalidate data-testid="send-form">
            <h2>"Send an event"</h2>
            <RadioGroup name="mode" legend="Producer" value=mode options=modes/>
            <TextField name="event_id" label="Event id" value=event_id error=field_error(Field::EventId)>
                <button type="button" class="secondary" on:click=move |_| event_id.set(fresh_event_id()) data-testid="new-event-id">
                    "New id"
                </button>
            </TextField>
            <TextField name="topic" label="Topic" value=topic error=field_error(Field::Topic) placeholder=default_topic/>
            <RadioGroup name="send_mode" legend="Send mode" value=send_mode options=send_modes/>
            <TextField name="key" label="Key" value=key error=field_error(Field::Key) placeholder="same as event id"/>
            <TextField
                name="partition"
                label="Partition"
                value=partition
                error=field_error(Field::Partition)
                placeholder="any (chosen by key)"
                inputmode="numeric"
            />
            <button type="submit" class="primary" data-testid="send-button" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Sending…" } else { "Send" }}
            </button>
            <SendResult result=Signal::derive(move || action.value().get()) round_trip/>
        </form>
    }
}

/// The answer to the last send: delivered (sync), accepted with a live status (async), or why not.
#[component]
fn SendResult(
    result: Signal<Option<Result<SendOutcome, AppError>>>,
    round_trip: RwSignal<Option<f64>>,
) -> impl IntoView {
    move || {
        result.get().map(|r| match r {
            Ok(SendOutcome::Delivered(d)) => EitherOf4::A(view! {
                <div class="result result-ok" data-testid="send-result" aria-live="polite">
                    <p>
                        <span class="badge badge-ok" data-testid="state">"OK"</span>
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
            Ok(SendOutcome::Accepted(a)) => EitherOf4::B(view! {
                <div class="result" data-testid="send-result">
                    <p>"Accepted (async). Delivery report:"</p>
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
