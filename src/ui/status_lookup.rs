//! Look a send up by request id. A GET form: it works without JavaScript, and with it the
//! router navigates without a reload. `?requestId=` (lookup) and `?sent=` (after a no-JS send)
//! both land here.

use super::status_view::{LiveStatus, StatusFacts};
use crate::server_fns::get_status;
use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

#[component]
pub fn StatusLookup() -> impl IntoView {
    let query = use_query_map();
    let wanted = move || query.with(|q| q.get("requestId").or_else(|| q.get("sent")));
    let found = Resource::new(wanted, |id| async move {
        match id {
            Some(id) => Some(get_status(Some(id)).await),
            None => None,
        }
    });
    view! {
        <section class="card lookup" aria-labelledby="lookup-title">
            <h2 id="lookup-title">"Status lookup"</h2>
            <Form method="GET" action="">
                <label for="requestId">"Request id"</label>
                <div class="field-row">
                    <input id="requestId" name="requestId" type="text" autocomplete="off"
                        value=move || wanted().unwrap_or_default() data-testid="lookup-input"/>
                    <button type="submit" class="secondary" data-testid="lookup-button">"Look up"</button>
                </div>
            </Form>
            <Transition fallback=|| ()>
                {move || found.get().flatten().map(|r| match r {
                    Ok(status) if status.state.is_terminal() => view! {
                        <div data-testid="lookup-result"><StatusFacts status/></div>
                    }.into_any(),
                    Ok(status) => view! {
                        <div data-testid="lookup-result"><LiveStatus request_id=status.request_id initial=status/></div>
                    }.into_any(),
                    Err(e) => view! { <p class="error-text" data-testid="lookup-error">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}
