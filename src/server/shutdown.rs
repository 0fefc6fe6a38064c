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
    /// What must outlive every other task (the embedded broker): stopped once they ended.
    last_token: CancellationToken,
    last_tracker: TaskTracker,
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

    /// The signal of the tasks stopped last: those every other task may still need.
    pub fn last_token(&self) -> CancellationToken {
        self.last_token.clone()
    }

    /// Spawns a task stopped after every other one (it must end once `last_token` is cancelled).
    pub fn spawn_last<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.last_tracker.spawn(task)
    }

    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Cancels every task and waits up to `timeout` for them, then does the same for the tasks
    /// stopped last; false if some did not end in time.
    pub async fn stop_all(&self, timeout: Duration) -> bool {
        let first = Self::stop(&self.token, &self.tracker, timeout).await;
        let last = Self::stop(&self.last_token, &self.last_tracker, timeout).await;
        first && last
    }

    async fn stop(token: &CancellationToken, tracker: &TaskTracker, timeout: Duration) -> bool {
        token.cancel();
        tracker.close();
        let done = tokio::time::timeout(timeout, tracker.wait()).await.is_ok();
        if !done {
            tracing::warn!(left = tracker.len(), "tasks still running after the shutdown timeout");
        }
        done
    }
}
