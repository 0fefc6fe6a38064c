//! Look a send up by request id. A GET form: it works without JavaScript, and with it the
//! lookup happens in place, without a reload. `?requestId=` (lookup) and `?sent=` (after a
//! no-JS send) both land here.

use super::status_view::{LiveStatus, StatusFacts};
use crate::app::PageUrl;
use crate::server_fns::get_status;
use leptos::either::EitherOf3;
use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;

/// Puts the looked-up id in the address bar, so a reload or a shared link shows it again.
fn show_in_address_bar(id: &str) {
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("requestId", id).finish();
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("?{query}")));
    }
}

#[component]
pub fn StatusLookup() -> impl IntoView {
    let url = use_context::<PageUrl>().unwrap_or_default();
    let wanted = RwSignal::new(url.param("requestId").or_else(|| url.param("sent")));
    let input = NodeRef::<Input>::new();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let id = input.get().map(|i| i.value().trim().to_owned()).unwrap_or_default();
        show_in_address_bar(&id);
        wanted.set((!id.is_empty()).then_some(id));
    };
    let found = Resource::new(
        move || wanted.get(),
        |id| async move {
            match id {
                Some(id) => Some(get_status(Some(id)).await),
                None => None,
            }
        },
    );
    view! {
        <section class="card lookup" aria-labelledby="lookup-title">
            <h2 id="lookup-title">"Status lookup"</h2>
            <form method="GET" action="/" on:submit=on_submit>
                <label for="requestId">"Request id"</label>
                <div class="field-row">
                    <input id="requestId" name="requestId" type="text" autocomplete="off"
                        node_ref=input value=move || wanted.get().unwrap_or_default() data-testid="lookup-input"/>
                    <button type="submit" class="secondary" data-testid="lookup-button">"Look up"</button>
                </div>
            </form>
            <Transition fallback=|| ()>
                {move || found.get().flatten().map(|r| match r {
                    Ok(status) if status.state.is_terminal() => EitherOf3::A(view! {
                        <div data-testid="lookup-result"><StatusFacts status/></div>
                    }),
                    Ok(status) => EitherOf3::B(view! {
                        <div data-testid="lookup-result"><LiveStatus request_id=status.request_id initial=status/></div>
                    }),
                    Err(e) => EitherOf3::C(view! { <p class="error-text" data-testid="lookup-error">{e.to_string()}</p> }),
                })}
            </Transition>
        </section>
    }
}
