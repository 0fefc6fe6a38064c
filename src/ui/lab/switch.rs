//! The global fault switch: a fault for every send through the service, not only lab runs.

use crate::error::AppError;
use crate::model::FaultKind;
use crate::server_fns::{current_fault, set_fault};
use crate::ui::token::AuthEpoch;
use leptos::prelude::*;

/// A select whose options are the fault kinds (`with_client_retry`: include the caller scenario).
#[component]
pub fn FaultSelect(id: &'static str, value: RwSignal<String>, with_client_retry: bool) -> impl IntoView {
    view! {
        <select id=id name="fault" prop:value=move || value.get() on:change=move |ev| value.set(event_target_value(&ev))
            data-testid=id>
            {FaultKind::ALL
                .into_iter()
                .filter(|k| with_client_retry || !k.caller_retries())
                .map(|k| view! { <option value=k.as_str() selected=move || value.get() == k.as_str()>{k.as_str()}</option> })
                .collect_view()}
        </select>
    }
}

/// Switch a fault on for every producer behind the proxy, to watch ordinary sends suffer it.
#[component]
pub fn FaultSwitch() -> impl IntoView {
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
                    Ok(s) => view! { <SwitchState status=s/> }.into_any(),
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

/// Where the switch stands, and the proxy between the service and its cluster.
#[component]
fn SwitchState(status: crate::model::FaultStatus) -> impl IntoView {
    let state = if !status.available {
        "Faults need a plaintext listener: this service reaches its cluster over TLS.".to_owned()
    } else if !status.global_switch {
        "Off on this service (LAB_GLOBAL_FAULTS): faults reach lab runs only.".to_owned()
    } else {
        format!("Now: {}", status.kind.as_str())
    };
    view! {
        <p data-testid="fault-status">{state}</p>
        {(!status.cluster.is_empty()).then(|| view! {
            <details class="small" data-testid="proxy-listeners">
                <summary>{format!("Cluster {} behind the fault proxy", status.cluster)}</summary>
                <ul class="mono small">
                    {status.listeners.into_iter().map(|l| {
                        let node = l.node_id.map_or_else(|| "bootstrap".to_owned(), |n| format!("node {n}"));
                        view! { <li>{format!("{node}: {} -> {}", l.proxy, l.upstream)}</li> }
                    }).collect_view()}
                </ul>
            </details>
        })}
    }
}
