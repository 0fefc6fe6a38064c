//! The pages and the server functions on the axum router. Leptos' `leptos_routes` registers
//! the server functions; the pages are plain GET routes, each rendering the shell of its page
//! after every resource resolved (complete without JavaScript), with the page's query string
//! in context.

use super::state::AppState;
use crate::app::{shell, Page, PageUrl};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::LeptosRoutes;

pub fn routes(state: &AppState) -> Router<AppState> {
    let router = Router::new()
        .leptos_routes(state, Vec::new(), || ())
        .route_layer(axum::middleware::from_fn(super::ui_api::server_fn_body_limit));
    Page::ROUTED
        .iter()
        .fold(router, |router, &(path, page)| {
            router.route(path, get(move |state: State<AppState>, request: Request| render_page(state, request, page)))
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(|options| shell(options, Page::NotFound)))
}

async fn render_page(State(state): State<AppState>, request: Request, page: Page) -> Response {
    let url = PageUrl::from_query(request.uri().query().unwrap_or_default());
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(state.clone());
            url.clone().provide();
        },
        move || shell(options.clone(), page),
    );
    handler(request).await
}
