//! A pair of runs side by side (plain and idempotent under one fault), with what the figures
//! mean, and the table of past runs.

use super::explain::{explain, summarize};
use super::results::RunColumn;
use crate::model::{LabRunReport, LabRunState, ProducerMode};
use leptos::prelude::*;

/// The chosen pair of runs (or, after a reload, the latest plain and idempotent ones) side by side.
#[component]
pub fn Comparison(list: Vec<LabRunReport>, pair: Option<(String, String)>) -> impl IntoView {
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
