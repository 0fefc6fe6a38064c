//! The Lab page: run plain and idempotent side by side under one fault ([`form`]), watch their
//! progress and compare what the topic holds ([`comparison`], [`results`], [`explain`]), and
//! switch a fault on for ordinary sends ([`switch`]); send N events in one batch
//! ([`super::batch_panel`], here so that its code loads with this page's chunk).

pub mod comparison;
pub mod explain;
pub mod form;
pub mod results;
pub mod switch;

use super::batch_panel::BatchPanel;
use super::live_list::live_list;
use super::token::AuthEpoch;
use crate::model::{LabRunReport, LabRunState};
use crate::server_fns::lab_runs;
use comparison::Comparison;
use form::LabForm;
use leptos::either::Either;
use leptos::prelude::*;
use std::time::Duration;
use switch::FaultSwitch;

#[component]
pub fn LabPage() -> impl IntoView {
    let pair = RwSignal::new(None::<(String, String)>);
    let refresh = RwSignal::new(0u32);
    let epoch = expect_context::<AuthEpoch>().0;
    let rendered = Resource::new(move || epoch.get(), |_| lab_runs());
    let trigger = Signal::derive(move || refresh.get().wrapping_add(epoch.get()));
    // Until both runs just started are listed too, whichever replica answers.
    let runs = live_list(rendered, trigger, Duration::from_millis(400), lab_runs, move |list: &[LabRunReport]| {
        let listed = |id: &String| list.iter().any(|r| &r.id == id);
        list.iter().any(|r| matches!(r.state, LabRunState::Queued | LabRunState::Running))
            || pair.get_untracked().is_some_and(|(plain, idempotent)| !listed(&plain) || !listed(&idempotent))
    });
    view! {
        <div class="lab">
            <LabForm pair refresh/>
            <Transition fallback=|| view! { <p class="muted">"Loading runs…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) => Either::Left(view! { <Comparison list=list pair=pair.get()/> }),
                    Err(e) => Either::Right(view! { <p class="error-text">{e.to_string()}</p> }),
                })}
            </Transition>
            <FaultSwitch/>
            <BatchPanel/>
        </div>
    }
}
