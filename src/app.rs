//! The Leptos application: the HTML shell the server renders, the header, and the routes.

use crate::error::AppError;
use crate::model::BrokerInfo;
use crate::server_fns::describe_broker;
use crate::ui::broker_badge::BrokerBadge;
use crate::ui::home::HomePage;
use crate::ui::lab::LabRoute;
use crate::ui::token::{stored_token, AuthEpoch, TokenPrompt};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{Lazy, SsrMode, StaticSegment};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let epoch = AuthEpoch(RwSignal::new(0));
    provide_context(epoch);
    // A tab that already holds a token fetches again with it once hydrated (the server-rendered
    // page could not carry it).
    Effect::new(move |_| {
        if stored_token().is_some() {
            epoch.0.update(|n| *n += 1);
        }
    });
    let broker: Resource<Result<BrokerInfo, AppError>> = Resource::new(move || epoch.0.get(), |_| describe_broker());
    provide_context(broker);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Stylesheet id="leptos" href="/pkg/producer-reliability.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="producer-reliability"/>
        <Meta name="description" content="Send events to Kafka through plain and idempotent producers and see what happened to each."/>
        <Router>
            <header class="top" data-testid="hydration" data-hydrated=move || hydrated.get().to_string()>
                <div class="brand">
                    <span class="logo" aria-hidden="true">"⇉"</span>
                    <span>"producer-reliability"</span>
                </div>
                <nav aria-label="Pages">
                    <A href="/">"Send"</A>
                    <A href="/lab">"Lab"</A>
                </nav>
                <Transition fallback=|| ()>
                    {move || broker.get().map(|r| match r {
                        Ok(info) => view! { <BrokerBadge info/> }.into_any(),
                        Err(AppError::Unauthorized { .. }) => view! { <TokenPrompt/> }.into_any(),
                        Err(e) => view! { <span class="error-text">{e.to_string()}</span> }.into_any(),
                    })}
                </Transition>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="card">"Page not found."</p> }>
                    // Async: the server resolves every resource before answering, so the page is
                    // complete without JavaScript.
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    // The Lab page is a lazily loaded WASM chunk (`--split`): the send page's bundle
                    // does not carry it.
                    <Route path=StaticSegment("lab") view={Lazy::<LabRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
