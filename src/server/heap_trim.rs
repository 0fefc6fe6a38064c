//! Gives memory back after a burst of sends. glibc keeps what a burst freed in its arenas (a
//! million async sends left ~68 MB there), so without this the process would keep its peak RSS
//! after the load is gone; once the burst is delivered, `malloc_trim` returns it to the system.

use super::shutdown::Shutdown;
use super::status_store::StatusStore;
use std::sync::Arc;
use std::time::Duration;

/// Delivery reports since the last trim that make the next idle moment worth a trim.
const BURST_REPORTS: u64 = 10_000;
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches the status store until shutdown.
pub fn spawn_heap_trimmer(store: Arc<StatusStore>, shutdown: &Shutdown) {
    let stop = shutdown.token();
    shutdown.spawn(async move {
        let mut trimmed_at = 0u64;
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let (delivered, failed) = store.outcome_counts();
            let reports = delivered + failed;
            if store.pending_count() == 0 && reports.saturating_sub(trimmed_at) >= BURST_REPORTS {
                trimmed_at = reports;
                let _ = tokio::task::spawn_blocking(release_free_memory).await;
            }
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; any thread may call it.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(released = released == 1, "returned free heap memory to the system after a burst");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
