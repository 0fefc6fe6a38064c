//! The API token in the browser: asked once, kept in `sessionStorage` (this tab only), and
//! sent as `Authorization: Bearer` with every server-function call.

use leptos::prelude::*;
use leptos::server_fn::client::browser::BrowserClient;
use leptos::server_fn::client::Client;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::request::browser::BrowserRequest;
use leptos::server_fn::response::browser::BrowserResponse;
use std::future::Future;

const STORAGE_KEY: &str = "producer-reliability.api-token";

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The token saved for this tab, if any. Browser only.
pub fn stored_token() -> Option<String> {
    session_storage()?.get_item(STORAGE_KEY).ok()?.filter(|t| !t.is_empty())
}

fn store_token(token: &str) {
    if let Some(storage) = session_storage() {
        let _ = storage.set_item(STORAGE_KEY, token);
    }
}

/// Bumped when the tab gets a token: resources read it so they fetch again with the token.
#[derive(Clone, Copy)]
pub struct AuthEpoch(pub RwSignal<u32>);

/// The browser's server-function client, plus the tab's bearer token.
pub struct TokenClient;

impl<E: FromServerFnError> Client<E> for TokenClient {
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl Future<Output = Result<Self::Response, E>> + Send {
        if let Some(token) = stored_token() {
            req.headers().set("Authorization", &format!("Bearer {token}"));
        }
        <BrowserClient as Client<E>>::send(req)
    }

    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl futures::Stream<Item = Result<bytes::Bytes, bytes::Bytes>> + Send + 'static,
                impl futures::Sink<bytes::Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E>>::spawn(future)
    }
}

/// Shown when the server asks for a token: one field, kept for the tab.
#[component]
pub fn TokenPrompt() -> impl IntoView {
    let epoch = expect_context::<AuthEpoch>();
    let token = RwSignal::new(String::new());
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        store_token(token.get_untracked().trim());
        epoch.0.update(|n| *n += 1);
    };
    view! {
        <form class="token-prompt" on:submit=save data-testid="token-prompt">
            <label for="api-token">"API token"</label>
            <input id="api-token" type="password" autocomplete="off" prop:value=move || token.get()
                on:input=move |ev| token.set(event_target_value(&ev)) data-testid="token-input"/>
            <button type="submit" class="secondary" data-testid="token-save">"Use for this tab"</button>
        </form>
    }
}
