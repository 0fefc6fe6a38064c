//! Waiting for room in something full (librdkafka's local queue, the status store): short pauses
//! that grow to [`MAX_PAUSE`], within a bound, so that a burst slows its callers down to the
//! broker's pace instead of failing them at once. Neither has a signal for "room again".

use std::time::Duration;
use tokio::time::Instant;

/// Longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_millis(16);

pub struct RoomWait {
    deadline: Instant,
    pause: Duration,
}

impl RoomWait {
    /// Starts waiting: tries may go on for `bound`.
    pub fn new(bound: Duration) -> Self {
        Self { deadline: Instant::now() + bound, pause: Duration::from_millis(1) }
    }

    /// The bound has passed: the caller gives up.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Pauses before the next try (never past the bound), each pause twice the last.
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.pause.min(self.deadline.saturating_duration_since(Instant::now()))).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
    }
}
