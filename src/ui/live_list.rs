//! A list the server rendered, kept live in the browser: fetched again whenever `trigger`
//! changes, then every `every` for as long as `keep_polling` says of the list (an entry still in
//! progress, or one the page expects not listed yet: behind a load balancer, the next fetch
//! may reach a replica that has not read it yet).

use super::poll::poll_with_backoff;
use crate::error::AppError;
use leptos::prelude::*;
use std::future::Future;
use std::time::Duration;

pub type ListResult<T> = Result<Vec<T>, AppError>;

pub fn live_list<T, F, Fut, P>(
    rendered: Resource<ListResult<T>>,
    trigger: Signal<u32>,
    every: Duration,
    fetch: F,
    keep_polling: P,
) -> Signal<Option<ListResult<T>>>
where
    T: Clone + Send + Sync + 'static,
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ListResult<T>> + 'static,
    P: Fn(&[T]) -> bool + Copy + Send + Sync + 'static,
{
    let live = RwSignal::new(None::<ListResult<T>>);
    // Effects run only in the browser; each run replaces the previous polling loop.
    Effect::new(move |_| {
        trigger.track();
        let fetch = fetch.clone();
        poll_with_backoff(every, every, move || {
            let fetch = fetch.clone();
            async move {
                let result = fetch().await;
                let again = matches!(&result, Ok(list) if keep_polling(list));
                live.try_set(Some(result));
                again
            }
        });
    });
    Signal::derive(move || live.get().or_else(|| rendered.get()))
}
