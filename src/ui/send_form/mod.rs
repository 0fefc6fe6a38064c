//! The send form: every option of the REST API, validated in the browser with the server's
//! own rules, and still a plain HTML form post when JavaScript is off.

mod fields;
mod result;

use super::event_id::{fresh_event_id, fresh_idempotency_key};
use super::fields::{RadioGroup, RadioOption, TextArea, TextField};
use super::poll::now_ms;
use crate::model::{Field, ProducerMode};
use crate::server_fns::SendEvent;
use fields::SendFields;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use result::SendResult;

/// The form's radio options: each producer with what it guarantees, each send mode with what
/// the caller gets back.
fn options() -> (Vec<RadioOption>, Vec<RadioOption>) {
    let modes = ProducerMode::ALL
        .iter()
        .map(|m| (m.as_str(), if *m == ProducerMode::Plain { "Plain" } else { "Idempotent" }, Some(m.guarantee())))
        .collect();
    let send_modes = vec![
        ("sync", "Sync", Some("Wait for the broker's acknowledgement: partition and offset in the answer.")),
        ("async", "Async", Some("Answer at once with a request id; the status follows.")),
    ];
    (modes, send_modes)
}

/// Long only for its markup and its two signals of errors: the whole form is one `view!` block.
#[component]
pub fn SendForm(
    /// The server's default topic (shown as the topic's placeholder).
    #[prop(into)]
    default_topic: Signal<String>,
    /// Bumped after every answer, so lists of sends refresh.
    sends_changed: RwSignal<u32>,
) -> impl IntoView {
    let action = ServerAction::<SendEvent>::new();
    let fields = SendFields::new();
    let attempted = RwSignal::new(false);
    let sent_at = RwSignal::new(None::<f64>);
    let round_trip = RwSignal::new(None::<f64>);
    let client_error =
        Memo::new(move |_| fields.params().validate(&default_topic.get()).err().or_else(|| fields.record_error()));
    // A field's error: the browser's own check (a missing value only once a send was tried),
    // else the server's answer to the last send.
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
        action.dispatch(fields.submission());
    };
    Effect::new(move |_| {
        if let Some(result) = action.value().get() {
            if let Some(t0) = sent_at.get_untracked() {
                round_trip.set(Some(now_ms() - t0));
            }
            sends_changed.update(|n| *n += 1);
            fields.idempotency_key.set(fresh_idempotency_key());
            // The next event gets its own id; sending one twice is what the Lab's client-retry shows.
            if result.is_ok() {
                fields.event_id.set(fresh_event_id());
            }
        }
    });
    let (modes, send_modes) = options();
    let event_id = fields.event_id;
    view! {
        <form class="card send-form" method="post" action=SendEvent::url() on:submit=on_submit novalidate data-testid="send-form">
            <h2>"Send an event"</h2>
            <input type="hidden" name="idempotency_key" prop:value=move || fields.idempotency_key.get()/>
            <RadioGroup name="mode" legend="Producer" value=fields.mode options=modes/>
            <TextField name="event_id" label="Event id" value=event_id error=field_error(Field::EventId)>
                <button type="button" class="secondary" on:click=move |_| event_id.set(fresh_event_id()) data-testid="new-event-id">
                    "New id"
                </button>
            </TextField>
            <TextField name="topic" label="Topic" value=fields.topic error=field_error(Field::Topic) placeholder=default_topic/>
            <RadioGroup name="send_mode" legend="Send mode" value=fields.send_mode options=send_modes/>
            <TextField name="key" label="Key" value=fields.key error=field_error(Field::Key) placeholder="same as event id"/>
            <TextField
                name="partition"
                label="Partition"
                value=fields.partition
                error=field_error(Field::Partition)
                placeholder="any (chosen by key)"
                inputmode="numeric"
            />
            <details class="record-body" data-testid="record-body">
                <summary>"Your own value and headers (optional)"</summary>
                <TextArea name="value" label="Value (JSON)" value=fields.value error=field_error(Field::Value)
                    placeholder=r#"{"amount": 12.5}"# hint="Blank: the seed's value {eventId, mode, sendMode, api, ts}."/>
                <TextArea name="headers" label="Headers" value=fields.headers error=field_error(Field::Headers)
                    placeholder="trace-id: abc-123" hint="One 'name: value' per line."/>
            </details>
            <button type="submit" class="primary" data-testid="send-button" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Sending…" } else { "Send" }}
            </button>
            <SendResult result=Signal::derive(move || action.value().get()) round_trip/>
        </form>
    }
}
