//! One shutdown signal for every task, as mini-redis passes its own: a cancellation token that
//! each long-lived task selects on, and one tracker that shutdown waits on, in one place.
//!
//! Parts that must stop before others (the HTTP server, lab runs) listen on child tokens that
//! [`crate::server::startup::Server::shutdown`] cancels first; cancelling the root stops the rest.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signal: tasks select on `token().cancelled()`.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Spawns a task that shutdown waits for; it must end once the token is cancelled.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Cancels every task and waits up to `timeout` for all of them; false if some did not end.
    pub async fn stop_all(&self, timeout: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        let done = tokio::time::timeout(timeout, self.tracker.wait()).await.is_ok();
        if !done {
            tracing::warn!(left = self.tracker.len(), "tasks still running after the shutdown timeout");
        }
        done
    }
}
