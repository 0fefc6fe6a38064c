//! Browser-side polling: ask again after growing pauses, stop at a terminal answer, and stop
//! when the component that started it leaves the page. On the server it does nothing (the
//! server renders one answer; the browser takes over after hydration).

use std::future::Future;
use std::time::Duration;

/// Calls `tick` at once, then again after `first`, `2×first`, ... up to `max` between calls,
/// for as long as it answers `true`.
pub fn poll_with_backoff<F, Fut>(first: Duration, max: Duration, tick: F)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = bool> + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let alive = Arc::new(AtomicBool::new(true));
        leptos::prelude::on_cleanup({
            let alive = alive.clone();
            move || alive.store(false, Ordering::Relaxed)
        });
        leptos::task::spawn_local(async move {
            let mut pause = first;
            while alive.load(Ordering::Relaxed) && tick().await {
                gloo_timers::future::sleep(pause).await;
                pause = (pause * 2).min(max);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (first, max, tick);
    }
}

/// Milliseconds since an arbitrary origin, for round-trip times measured in the browser.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}
