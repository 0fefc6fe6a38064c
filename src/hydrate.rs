//! The browser's entry point: hydrate the root of the page the server sent.

use crate::app::{LabApp, NotFoundApp, Page, PageUrl, SendApp};
use leptos::prelude::*;

/// Called by the page's hydration script once the WASM bundle is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let location = window().location();
    let path = location.pathname().unwrap_or_default();
    let query = location.search().unwrap_or_default();
    match Page::from_path(&path) {
        Page::Send => leptos::mount::hydrate_body(move || {
            PageUrl::from_query(&query).provide();
            view! { <SendApp/> }
        }),
        Page::Lab => wasm_bindgen_futures::spawn_local(hydrate_lab()),
        Page::NotFound => leptos::mount::hydrate_body(NotFoundApp),
    }
}

/// Lazy: built with `cargo leptos build --split`, the Lab page's code is a WASM chunk of its
/// own, fetched only when `/lab` is opened; the send page's bundle does not carry it.
#[leptos::lazy]
fn hydrate_lab() {
    leptos::mount::hydrate_body(LabApp);
}
