//! The Lab page: run plain and idempotent side by side under one fault, watch their progress,
//! compare what the topic holds, and switch a fault on for ordinary sends.

use super::fields::TextField;
use super::lab_explain::{explain, summarize};
use super::lab_results::RunColumn;
use super::live_list::live_list;
use super::token::AuthEpoch;
use crate::error::AppError;
use crate::model::{FaultKind, Field, LabParams, LabRunReport, LabRunState, ProducerMode};
use crate::server_fns::{current_fault, lab_runs, set_fault, start_lab_run};
use leptos::prelude::*;
use std::time::Duration;

/// A select whose options are the fault kinds (`with_client_retry`: include the caller scenario).
#[component]
fn FaultSelect(id: &'static str, value: RwSignal<String>, with_client_retry: bool) -> impl IntoView {
    view! {
        <select id=id name="fault" prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))
            data-testid=id>
            {FaultKind::ALL
                .into_iter()
                .filter(|k| with_client_retry || *k != FaultKind::ClientRetry)
                .map(|k| view! { <option value=k.as_str() selected=move || value.get() == k.as_str()>{k.as_str()}</option> })
                .collect_view()}
        </select>
    }
}

#[component]
pub fn LabPage() -> impl IntoView {
    let fault = RwSignal::new(FaultKind::DelayProduceResponse.as_str().to_owned());
    let count = RwSignal::new("200".to_owned());
    let send_mode = RwSignal::new("async".to_owned());
    let delay_ms = RwSignal::new(String::new());
    let produce_requests = RwSignal::new(String::new());
    let duration_ms = RwSignal::new(String::new());
    let pair = RwSignal::new(None::<(String, String)>);
    let failure = RwSignal::new(None::<AppError>);
    let starting = RwSignal::new(false);
    let refresh = RwSignal::new(0u32);
    let epoch = expect_context::<AuthEpoch>().0;
    let rendered = Resource::new(move || epoch.get(), |_| lab_runs());
    let trigger = Signal::derive(move || refresh.get().wrapping_add(epoch.get()));
    let runs = live_list(rendered, trigger, Duration::from_millis(400), lab_runs, |r: &LabRunReport| {
        matches!(r.state, LabRunState::Queued | LabRunState::Running)
    });

    let params = move |mode: ProducerMode| LabParams {
        mode: Some(mode.as_str().to_owned()),
        count: Some(count.get()),
        send_mode: Some(send_mode.get()),
        fault: Some(fault.get()),
        delay_ms: Some(delay_ms.get()),
        produce_requests: Some(produce_requests.get()),
        duration_ms: Some(duration_ms.get()),
    };
    let client_error = Memo::new(move |_| params(ProducerMode::Plain).validate().err());
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
        let [plain, idempotent] = [ProducerMode::Plain, ProducerMode::Idempotent].map(params);
        starting.set(true);
        failure.set(None);
        leptos::task::spawn_local(async move {
            let start_one = |p: LabParams| {
                start_lab_run(p.mode, p.count, p.send_mode, p.fault, p.delay_ms, p.produce_requests, p.duration_ms)
            };
            match start_one(plain).await {
                Ok(p) => match start_one(idempotent).await {
                    Ok(i) => {
                        pair.set(Some((p.id, i.id)));
                    }
                    Err(e) => failure.set(Some(e)),
                },
                Err(e) => failure.set(Some(e)),
            }
            starting.set(false);
            refresh.update(|n| *n += 1);
        });
    };

    view! {
        <div class="lab">
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
                <TextField name="count" label="Events per producer" value=count error=field_error(Field::Count) inputmode="numeric"/>
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
                    <TextField name="delayMs" label="Answer delay, ms (delay-produce-response)" value=delay_ms
                        error=field_error(Field::DelayMs) placeholder="2500" inputmode="numeric"/>
                    <TextField name="produceRequests" label="Produce requests hit" value=produce_requests
                        error=field_error(Field::ProduceRequests) placeholder="3" inputmode="numeric"/>
                    <TextField name="durationMs" label="Broker away, ms (broker-unavailable)" value=duration_ms
                        error=field_error(Field::DurationMs) placeholder="2000" inputmode="numeric"/>
                </details>
                <button type="submit" class="primary" data-testid="lab-run" disabled=move || starting.get()>
                    "Run plain and idempotent"
                </button>
                {move || failure.get().filter(|e| e.field().is_none()).map(|e| view! {
                    <p class="result result-error" role="alert" data-testid="lab-error">{e.to_string()}</p>
                })}
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading runs…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) => view! { <Comparison list=list pair=pair.get()/> }.into_any(),
                    Err(e) => view! { <p class="error-text">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <FaultSwitch/>
        </div>
    }
}

/// The chosen pair of runs (or, after a reload, the latest plain and idempotent ones) side by side.
#[component]
fn Comparison(list: Vec<LabRunReport>, pair: Option<(String, String)>) -> impl IntoView {
    let find = |id: &str| list.iter().find(|r| r.id == id).cloned();
    let latest = |mode: ProducerMode| list.iter().find(|r| r.mode == mode).cloned();
    let chosen = match &pair {
        Some((p, i)) => find(p).zip(find(i)),
        None => latest(ProducerMode::Plain).zip(latest(ProducerMode::Idempotent)),
    };
    let comparison = chosen.map(|(plain, idempotent)| {
        let done = plain.state == LabRunState::Done && idempotent.state == LabRunState::Done;
        let lines = done.then(|| {
            let mut lines = vec![summarize(&plain), summarize(&idempotent)];
            lines.extend(explain(plain.fault.kind, &plain, &idempotent));
            lines
        });
        view! {
            <section class="card comparison" data-testid="lab-comparison">
                <h2>{format!("Fault: {} · {} events each", plain.fault.kind.as_str(), plain.count)}</h2>
                <div class="run-columns">
                    <RunColumn run=plain/>
                    <RunColumn run=idempotent/>
                </div>
                {lines.map(|lines| view! {
                    <div class="explanation" data-testid="lab-explanation">
                        {lines.into_iter().map(|l| view! { <p>{l}</p> }).collect_view()}
                    </div>
                })}
            </section>
        }
        .into_any()
    });
    view! {
        {comparison}
        <PastRuns list/>
    }
    .into_any()
}

#[component]
fn PastRuns(list: Vec<LabRunReport>) -> impl IntoView {
    (!list.is_empty()).then(|| {
        view! {
            <section class="card" aria-labelledby="past-runs">
                <h2 id="past-runs">"Past runs"</h2>
                <div class="table-scroll">
                    <table data-testid="past-runs">
                        <thead><tr>
                            <th scope="col">"Mode"</th><th scope="col">"Fault"</th><th scope="col">"State"</th>
                            <th scope="col">"Sent"</th><th scope="col">"Records"</th><th scope="col">"Duplicates"</th>
                            <th scope="col">"Lost"</th><th scope="col">"Out of order"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|r| view! {
                                <tr>
                                    <td>{format!("{} · {}", r.mode, r.send_mode)}</td>
                                    <td>{r.fault.kind.as_str()}</td>
                                    <td>{format!("{:?}", r.state).to_lowercase()}</td>
                                    <td>{r.sent}</td>
                                    <td>{r.verification.records_in_topic}</td>
                                    <td>{r.verification.duplicates}</td>
                                    <td>{r.verification.lost}</td>
                                    <td>{r.verification.out_of_order}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        }
    })
}

/// Switch a fault on for every producer behind the proxy, to watch ordinary sends suffer it.
#[component]
fn FaultSwitch() -> impl IntoView {
    let kind = RwSignal::new(FaultKind::None.as_str().to_owned());
    let version = RwSignal::new(0u32);
    let epoch = expect_context::<AuthEpoch>().0;
    let status = Resource::new(move || (version.get(), epoch.get()), |_| current_fault());
    let failure = RwSignal::new(None::<AppError>);
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let fault = Some(kind.get_untracked());
        leptos::task::spawn_local(async move {
            failure.set(set_fault(fault, None, None, None).await.err());
            version.update(|n| *n += 1);
        });
    };
    view! {
        <section class="card" aria-labelledby="fault-switch">
            <h2 id="fault-switch">"Fault switch"</h2>
            <p class="muted">"Applies to every send through this service (not only lab runs), with the default parameters."</p>
            <Transition fallback=|| ()>
                {move || status.get().map(|s| match s {
                    Ok(s) if !s.available => view! {
                        <p class="muted">"Faults need the embedded broker: this service uses an external cluster."</p>
                    }.into_any(),
                    Ok(s) => view! { <p data-testid="fault-status">"Now: " <b>{s.kind.as_str()}</b></p> }.into_any(),
                    Err(e) => view! { <p class="error-text">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <form class="field-row" on:submit=apply>
                <label for="switch-fault" class="sr-only">"Fault"</label>
                <FaultSelect id="switch-fault" value=kind with_client_retry=false/>
                <button type="submit" class="secondary">"Apply"</button>
            </form>
            {move || failure.get().map(|e| view! { <p class="error-text">{e.to_string()}</p> })}
        </section>
    }
}
