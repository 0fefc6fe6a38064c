//! The last sends of this server (sync and async), newest first, refreshed after each send
//! and every half second while any is still PENDING.

use super::live_list::live_list;
use super::status_view::StateBadge;
use super::token::AuthEpoch;
use crate::model::{DeliveryState, SendStatus};
use crate::server_fns::recent_sends;
use leptos::either::EitherOf3;
use leptos::prelude::*;
use std::time::Duration;

#[component]
pub fn RecentSends(sends_changed: RwSignal<u32>) -> impl IntoView {
    let epoch = expect_context::<AuthEpoch>().0;
    let rendered = Resource::new(move || epoch.get(), |_| recent_sends());
    let trigger = Signal::derive(move || sends_changed.get().wrapping_add(epoch.get()));
    let recent = live_list(rendered, trigger, Duration::from_millis(500), recent_sends, |list: &[SendStatus]| {
        list.iter().any(|s| s.state == DeliveryState::Pending)
    });
    view! {
        <section class="card recent" aria-labelledby="recent-title">
            <h2 id="recent-title">"Recent sends"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || recent.get().map(|r| match r {
                    Ok(list) if list.is_empty() => EitherOf3::A(view! { <p class="muted" data-testid="recent-empty">"No sends yet."</p> }),
                    Ok(list) => EitherOf3::B(view! { <RecentTable list/> }),
                    Err(e) => EitherOf3::C(view! { <p class="error-text">{e.to_string()}</p> }),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn RecentTable(list: Vec<SendStatus>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table data-testid="recent-table">
                <thead>
                    <tr>
                        <th scope="col">"State"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Mode"</th>
                        <th scope="col">"Topic"</th>
                        <th scope="col">"Key"</th>
                        <th scope="col">"Result"</th>
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|s| {
                            let result = match (s.partition, s.offset, &s.error) {
                                (Some(p), Some(o), _) => format!("p{p} @ {o}"),
                                (_, _, Some(e)) => e.clone(),
                                _ => "…".to_owned(),
                            };
                            view! {
                                <tr data-testid="recent-row" data-request-id=s.request_id.to_string()>
                                    <td><StateBadge state=s.state/></td>
                                    <td class="mono">{s.event_id}</td>
                                    <td>{format!("{} · {}", s.mode, s.send_mode)}</td>
                                    <td class="mono">{s.topic}</td>
                                    <td class="mono">{s.key}</td>
                                    <td class="mono">{result}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
