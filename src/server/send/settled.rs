//! Waiting until what a send recorded is readable by every replica: the state topic's
//! acknowledgement of a sync send's outcome, or of a batch's statuses, within one bound. Past it
//! the answer still goes (the records themselves were sent) and the delay is logged.

use crate::server::status_table::StateAck;
use std::time::{Duration, Instant};

/// How long a sync answer waits for the state topic to acknowledge its outcome, so that any
/// replica can answer for it at once; past it the answer still goes (the record itself is
/// acknowledged) and the delay is logged.
const STATE_ACK_WAIT: Duration = Duration::from_secs(10);

/// Waits until a sync send's outcome is readable by every replica, within [`STATE_ACK_WAIT`].
pub async fn wait_settled(settled: StateAck) {
    if let Err(why) = settled.wait(STATE_ACK_WAIT).await {
        tracing::warn!(%why, "a sync send's outcome is not yet readable by the other replicas");
    }
}

/// Waits until the statuses of many sends are readable by every replica (a batch's records),
/// within one [`STATE_ACK_WAIT`] for all of them.
pub async fn wait_all_settled(acks: Vec<StateAck>) {
    let deadline = Instant::now() + STATE_ACK_WAIT;
    let mut late = 0usize;
    let mut why = String::new();
    for ack in acks {
        if let Err(error) = ack.wait(deadline.saturating_duration_since(Instant::now())).await {
            late += 1;
            why = error;
        }
    }
    if late > 0 {
        tracing::warn!(late, %why, "statuses of sends already made are not yet readable by the other replicas");
    }
}
