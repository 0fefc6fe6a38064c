//! The Leptos application: the HTML shell the server renders and the two pages in their frame.
//!
//! There is no client-side router: the two pages are two server-rendered documents, and each
//! hydrates its own root ([`SendApp`], [`LabApp`]). A router would double every page's
//! hydration code (its lazy routes hydrate asynchronously) for two links.

use crate::error::AppError;
use crate::model::BrokerInfo;
use crate::server_fns::describe_broker;
use crate::ui::broker_badge::BrokerBadge;
use crate::ui::home::HomePage;
use crate::ui::lab::LabPage;
use crate::ui::token::{stored_token, AuthEpoch, TokenPrompt};
use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos::server::ServerActionError;

/// The pages the server renders, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Send,
    Lab,
    NotFound,
}

impl Page {
    /// The paths the server routes to a page; any other is [`Page::NotFound`].
    pub const ROUTED: [(&'static str, Page); 2] = [("/", Page::Send), ("/lab", Page::Lab)];

    /// The same answer on both sides: the server renders this page, and the browser hydrates
    /// its root.
    pub fn from_path(path: &str) -> Page {
        Page::ROUTED.iter().find(|(p, _)| *p == path).map_or(Page::NotFound, |(_, page)| *page)
    }
}

/// The address of the page being shown: the server takes it from the request, the browser from
/// `window.location`, so both render the same thing (the lookup after a no-JS send reads
/// `?sent=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageUrl {
    query: Vec<(String, String)>,
}

impl PageUrl {
    /// From the query string, with or without its leading `?`.
    pub fn from_query(query: &str) -> Self {
        let query = query.strip_prefix('?').unwrap_or(query);
        PageUrl { query: form_urlencoded::parse(query.as_bytes()).into_owned().collect() }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// Makes the address available to the page. A failed form post without JavaScript comes
    /// back with the server function's error in `__err`/`__path`: the form's action shows it
    /// next to the field, as it would have with JavaScript.
    pub fn provide(self) {
        if let (Some(err), Some(path)) = (self.param("__err"), self.param("__path")) {
            provide_context(ServerActionError::new(&path, &err));
        }
        provide_context(self);
    }
}

pub fn shell(options: LeptosOptions, page: Page) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="description" content="Send events to Kafka through plain and idempotent producers and see what happened to each."/>
                <title>{match page { Page::Lab => "Lab · producer-reliability", _ => "producer-reliability" }}</title>
                <link id="leptos" rel="stylesheet" href="/pkg/producer-reliability.css"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                {match page {
                    Page::Send => EitherOf3::A(view! { <SendApp/> }),
                    Page::Lab => EitherOf3::B(view! { <LabApp/> }),
                    Page::NotFound => EitherOf3::C(view! { <NotFoundApp/> }),
                }}
            </body>
        </html>
    }
}

#[component]
pub fn SendApp() -> impl IntoView {
    frame(Page::Send, || view! { <HomePage/> })
}

#[component]
pub fn LabApp() -> impl IntoView {
    frame(Page::Lab, || view! { <LabPage/> })
}

#[component]
pub fn NotFoundApp() -> impl IntoView {
    frame(Page::NotFound, || view! { <p class="card">"Page not found."</p> })
}

/// What every page shares: the header (navigation, broker badge or token prompt) around the
/// page's own content, built once the contexts it reads are provided. Generic rather than a
/// component with children, so each page's view stays one concrete type (children would be
/// type-erased, which costs the bundle an async-hydration copy of the page).
fn frame<V: IntoView>(page: Page, content: impl FnOnce() -> V) -> impl IntoView {
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
    let current = move |p: Page| (p == page).then_some("page");
    let content = content();
    view! {
        <header class="top" data-testid="hydration" data-hydrated=move || hydrated.get().to_string()>
            <div class="brand">
                <span class="logo" aria-hidden="true">"⇉"</span>
                <span>"producer-reliability"</span>
            </div>
            <nav aria-label="Pages">
                <a href="/" aria-current=current(Page::Send)>"Send"</a>
                <a href="/lab" aria-current=current(Page::Lab)>"Lab"</a>
            </nav>
            <Transition fallback=|| ()>
                {move || broker.get().map(|r| match r {
                    Ok(info) => EitherOf3::A(view! { <BrokerBadge info/> }),
                    Err(AppError::Unauthorized { .. }) => EitherOf3::B(view! { <TokenPrompt/> }),
                    Err(e) => EitherOf3::C(view! { <span class="error-text">{e.to_string()}</span> }),
                })}
            </Transition>
        </header>
        <main>{content}</main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_page() {
        assert_eq!(Page::from_path("/"), Page::Send);
        assert_eq!(Page::from_path("/lab"), Page::Lab);
        assert_eq!(Page::from_path("/lab/"), Page::NotFound, "the server routes /lab only");
        assert_eq!(Page::from_path("/labs"), Page::NotFound);
        assert_eq!(Page::from_path("/api/send"), Page::NotFound);
    }

    #[test]
    fn query_parameters_are_decoded() {
        let url = PageUrl::from_query("?requestId=a%20b&sent=x&requestId=second");
        assert_eq!(url.param("requestId").as_deref(), Some("a b"), "the first value wins");
        assert_eq!(url.param("sent").as_deref(), Some("x"));
        assert_eq!(url.param("missing"), None);
        assert_eq!(PageUrl::from_query("").param("sent"), None);
    }
}
