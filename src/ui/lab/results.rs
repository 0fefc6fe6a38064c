//! A lab run on the page: its figures, its copy histogram as a bar chart, and its settings.

use crate::model::{LabRunReport, LabRunState};
use leptos::prelude::*;

#[component]
pub fn RunColumn(run: LabRunReport) -> impl IntoView {
    let v = run.verification.clone();
    let running = matches!(run.state, LabRunState::Queued | LabRunState::Running);
    let progress =
        format!("{:?}: sent {} / {}, acked {}, failed {}", run.state, run.sent, run.count, run.acked, run.failed)
            .to_lowercase();
    let mut figures: Vec<(&str, String, &str)> = vec![
        ("Sent", run.sent.to_string(), "sent"),
        ("Acknowledged", run.acked.to_string(), "acked"),
        ("Failed", run.failed.to_string(), "failed"),
        ("Records in topic", v.records_in_topic.to_string(), "records"),
        ("Duplicated events", v.duplicates.to_string(), "duplicates"),
        ("Lost events", v.lost.to_string(), "lost"),
        ("Out of order", v.out_of_order.to_string(), "out-of-order"),
        ("Messages re-sent", run.resent_messages.to_string(), "resent"),
        ("Latency p50 / max", latency(&run), "latency"),
        ("Duration", format!("{} ms", run.duration_ms), "duration"),
    ];
    // Every send is accounted for: what had no delivery report in the bound shows only then.
    if run.unknown > 0 {
        figures.insert(3, ("No report (unknown)", run.unknown.to_string(), "unknown"));
    }
    view! {
        <section class="run-column" data-testid=format!("run-{}", run.mode) data-state=format!("{:?}", run.state).to_lowercase()
            aria-label=format!("{} producer", run.mode)>
            <h3>{run.mode.as_str()} <span class="muted small">{format!(" · {}", run.send_mode)}</span></h3>
            {running.then(|| view! { <p class="progress" aria-live="polite">{progress}</p> })}
            {run.error.clone().map(|e| view! { <p class="error-text">{e}</p> })}
            {run.unknown_reason.clone().map(|r| view! { <p class="muted small" data-testid="unknown-reason">{r}</p> })}
            <table class="figures">
                <tbody>
                    {figures
                        .into_iter()
                        .map(|(label, value, id)| view! {
                            <tr><th scope="row">{label}</th><td data-testid=format!("fig-{id}")>{value}</td></tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(!running).then(|| view! { <CopyHistogram run=run.clone()/> })}
            <p class="muted small" data-testid="run-cluster">
                {format!("cluster {}", run.cluster)}
                {run.via.clone().map(|v| format!(" · through the fault proxy at {v}"))}
            </p>
            <details class="settings">
                <summary>"Producer settings in effect"</summary>
                <ul class="mono small">
                    {run.settings.iter().map(|(k, v)| view! { <li>{format!("{k}={v}")}</li> }).collect_view()}
                </ul>
            </details>
        </section>
    }
    .into_any()
}

fn latency(run: &LabRunReport) -> String {
    match (run.latency_p50_ms, run.latency_max_ms) {
        (Some(p50), Some(max)) => format!("{p50:.1} / {max:.1} ms"),
        _ => "-".to_owned(),
    }
}

/// Bars: for each number of copies, how many events had it (0 copies = lost).
#[component]
fn CopyHistogram(run: LabRunReport) -> impl IntoView {
    let histogram = run.verification.copy_histogram.clone();
    let total = histogram.values().sum::<u64>().max(1);
    let summary =
        histogram.iter().map(|(c, n)| format!("{n} event(s) with {c} cop(ies)")).collect::<Vec<_>>().join(", ");
    view! {
        <figure class="histogram" data-testid="histogram">
            <figcaption>"Copies per event"</figcaption>
            <div role="img" aria-label=summary>
                {histogram
                    .into_iter()
                    .map(|(copies, events)| {
                        let width = format!("width: {:.1}%", 100.0 * events as f64 / total as f64);
                        let class = match copies {
                            1 => "bar bar-ok",
                            0 => "bar bar-lost",
                            _ => "bar bar-dup",
                        };
                        let label = if copies == 0 { "×0 (lost)".to_owned() } else { format!("×{copies}") };
                        view! {
                            <div class="bar-row">
                                <span class="bar-label">{label}</span>
                                <span class="bar-track"><span class=class style=width></span></span>
                                <span class="bar-value">{events}</span>
                            </div>
                        }
                    })
                    .collect_view()}
            </div>
        </figure>
    }
}
