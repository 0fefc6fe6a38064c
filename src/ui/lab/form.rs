//! The lab's form: one fault, one count, one send mode, and a run of each producer under it.
//! Validated in the browser with the server's own rules (`LabParams::validate`).

use super::switch::FaultSelect;
use crate::error::AppError;
use crate::model::{FaultKind, Field, LabParams, ProducerMode};
use crate::server_fns::start_lab_run;
use crate::ui::fields::TextField;
use leptos::prelude::*;

/// What the form holds, as typed.
#[derive(Clone, Copy)]
struct LabFields {
    fault: RwSignal<String>,
    count: RwSignal<String>,
    send_mode: RwSignal<String>,
    delay_ms: RwSignal<String>,
    produce_requests: RwSignal<String>,
    duration_ms: RwSignal<String>,
}

impl LabFields {
    fn new() -> Self {
        Self {
            fault: RwSignal::new(FaultKind::DelayProduceResponse.as_str().to_owned()),
            count: RwSignal::new("200".to_owned()),
            send_mode: RwSignal::new("async".to_owned()),
            delay_ms: RwSignal::new(String::new()),
            produce_requests: RwSignal::new(String::new()),
            duration_ms: RwSignal::new(String::new()),
        }
    }

    fn params(&self, mode: ProducerMode) -> LabParams {
        LabParams {
            mode: Some(mode.as_str().to_owned()),
            count: Some(self.count.get()),
            send_mode: Some(self.send_mode.get()),
            fault: Some(self.fault.get()),
            delay_ms: Some(self.delay_ms.get()),
            produce_requests: Some(self.produce_requests.get()),
            duration_ms: Some(self.duration_ms.get()),
        }
    }
}

/// Starts the plain run, then the idempotent one; answers their ids, or the first refusal.
async fn start_pair(plain: LabParams, idempotent: LabParams) -> Result<(String, String), AppError> {
    let start_one = |p: LabParams| {
        start_lab_run(p.mode, p.count, p.send_mode, p.fault, p.delay_ms, p.produce_requests, p.duration_ms)
    };
    let plain = start_one(plain).await?;
    let idempotent = start_one(idempotent).await?;
    Ok((plain.id, idempotent.id))
}

/// `pair` receives the ids of the two runs started; `refresh` is bumped once they are.
/// Long only for its markup: the whole form is one `view!` block.
#[component]
pub fn LabForm(pair: RwSignal<Option<(String, String)>>, refresh: RwSignal<u32>) -> impl IntoView {
    let fields = LabFields::new();
    let failure = RwSignal::new(None::<AppError>);
    let starting = RwSignal::new(false);
    let client_error = Memo::new(move |_| fields.params(ProducerMode::Plain).validate().err());
    let field_error = move |field: Field| {
        Signal::derive(move || {
            client_error
                .get()
                .filter(|e| e.field == field)
                .map(|e| e.message)
                .or_else(|| failure.get().filter(|e| e.field() == Some(field)).map(|e| e.to_string()))
        })
    };
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if client_error.get_untracked().is_some() {
            return;
        }
        let (plain, idempotent) =
            untrack(|| (fields.params(ProducerMode::Plain), fields.params(ProducerMode::Idempotent)));
        starting.set(true);
        failure.set(None);
        leptos::task::spawn_local(async move {
            match start_pair(plain, idempotent).await {
                Ok(ids) => pair.set(Some(ids)),
                Err(e) => failure.set(Some(e)),
            }
            starting.set(false);
            refresh.update(|n| *n += 1);
        });
    };
    let fault = fields.fault;
    let send_mode = fields.send_mode;
    view! {
        <form class="card lab-form" method="post" action="#" on:submit=start novalidate data-testid="lab-form">
            <h2>"Reliability lab"</h2>
            <p class="muted">
                "Send the same events through the plain and the idempotent producer, under a fault injected \
                 between them and the broker, then read the topic back and count."
            </p>
            <div class="field">
                <label for="lab-fault">"Fault"</label>
                <FaultSelect id="lab-fault" value=fault with_client_retry=true/>
                <p class="hint">{move || fault.get().parse::<FaultKind>().map(|k| k.explain()).unwrap_or_default()}</p>
            </div>
            <TextField name="count" label="Events per producer" value=fields.count error=field_error(Field::Count) inputmode="numeric"/>
            <div class="field">
                <label for="lab-send-mode">"Send mode"</label>
                <select id="lab-send-mode" prop:value=move || send_mode.get()
                    on:change=move |ev| send_mode.set(event_target_value(&ev)) data-testid="lab-send-mode">
                    <option value="async" selected=move || send_mode.get() == "async">"async"</option>
                    <option value="sync" selected=move || send_mode.get() == "sync">"sync"</option>
                </select>
            </div>
            <details>
                <summary>"Fault parameters (defaults make the fault bite)"</summary>
                <TextField name="delayMs" label="Answer delay, ms (delay-produce-response, broker-slow)" value=fields.delay_ms
                    error=field_error(Field::DelayMs) placeholder="2500" inputmode="numeric"/>
                <TextField name="produceRequests" label="Produce requests hit (delay, drop, produce-error)" value=fields.produce_requests
                    error=field_error(Field::ProduceRequests) placeholder="3" inputmode="numeric"/>
                <TextField name="durationMs" label="Broker away, ms (broker-unavailable)" value=fields.duration_ms
                    error=field_error(Field::DurationMs) placeholder="2000" inputmode="numeric"/>
            </details>
            <button type="submit" class="primary" data-testid="lab-run" disabled=move || starting.get()>
                "Run plain and idempotent"
            </button>
            {move || failure.get().filter(|e| e.field().is_none()).map(|e| view! {
                <p class="result result-error" role="alert" data-testid="lab-error">{e.to_string()}</p>
            })}
        </form>
    }
}
