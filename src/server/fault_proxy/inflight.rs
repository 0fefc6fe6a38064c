//! Per-connection request tracking (pure, no I/O): every request the client sent, in order,
//! with its api key, version and what the proxy must do with its response. Responses are
//! matched by correlation id, not by position: a Produce with acks=0 never gets a response,
//! and its entry is dropped when a later request is answered (a broker answers in order).
//! Answers the proxy makes itself keep their place in that order.

use std::collections::VecDeque;
use std::time::Duration;

/// What to do with the response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Forward the response bytes as they are.
    Pass,
    /// Decode and rewrite the response (addresses, versions).
    Rewrite,
    /// Hold the response this long before forwarding it.
    Delay(Duration),
    /// Close the connection instead of forwarding the response.
    Drop,
    /// Not forwarded to the broker: the proxy answers with this frame itself.
    Answer(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub correlation_id: i32,
    pub api_key: i16,
    pub api_version: i16,
    pub action: Action,
}

/// The requests of one connection still waiting for a response, oldest first.
#[derive(Debug)]
pub struct InFlight {
    queue: VecDeque<Pending>,
    limit: usize,
}

impl InFlight {
    /// `limit` bounds the entries kept (acks=0 Produce entries are only pruned by a later
    /// response): past it the oldest entry is forgotten.
    pub fn new(limit: usize) -> Self {
        Self { queue: VecDeque::new(), limit: limit.max(1) }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn push(&mut self, pending: Pending) {
        if self.queue.len() >= self.limit {
            if let Some(old) = self.queue.pop_front() {
                tracing::debug!(correlation_id = old.correlation_id, "in-flight table full: oldest entry forgotten");
            }
        }
        self.queue.push_back(pending);
    }

    /// Matches a broker response. Returns the proxy's own answers queued before it (to send
    /// first, in order) and its entry; requests before it that were forwarded but not answered
    /// (acks=0) are forgotten. `None` (nothing removed) for an unknown correlation id.
    pub fn take(&mut self, correlation_id: i32) -> Option<(Vec<Vec<u8>>, Pending)> {
        let at = self
            .queue
            .iter()
            .position(|p| p.correlation_id == correlation_id && !matches!(p.action, Action::Answer(_)))?;
        let mut answers = Vec::new();
        for earlier in self.queue.drain(..at) {
            if let Action::Answer(frame) = earlier.action {
                answers.push(frame);
            }
        }
        let pending = self.queue.pop_front()?;
        Some((answers, pending))
    }

    /// The proxy's own answers now at the head of the queue (nothing forwarded ahead of them).
    pub fn ready_answers(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while matches!(self.queue.front(), Some(Pending { action: Action::Answer(_), .. })) {
            if let Some(Pending { action: Action::Answer(frame), .. }) = self.queue.pop_front() {
                out.push(frame);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(correlation_id: i32, action: Action) -> Pending {
        Pending { correlation_id, api_key: 0, api_version: 9, action }
    }

    #[test]
    fn matches_by_id_and_skips_unanswered_requests() {
        let mut f = InFlight::new(16);
        f.push(p(1, Action::Pass)); // acks=0: never answered
        f.push(p(2, Action::Answer(vec![2])));
        f.push(p(3, Action::Delay(Duration::from_millis(5))));
        f.push(p(4, Action::Answer(vec![4])));
        let (answers, got) = f.take(3).expect("known id");
        assert_eq!(answers, vec![vec![2]]);
        assert_eq!(got.action, Action::Delay(Duration::from_millis(5)));
        assert_eq!(f.ready_answers(), vec![vec![4]]);
        assert!(f.is_empty());
        assert!(f.take(9).is_none());
    }

    #[test]
    fn answers_are_never_matched_by_a_broker_response() {
        let mut f = InFlight::new(16);
        f.push(p(7, Action::Answer(vec![7])));
        assert!(f.take(7).is_none());
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn bounded() {
        let mut f = InFlight::new(2);
        for i in 0..5 {
            f.push(p(i, Action::Pass));
        }
        assert_eq!(f.len(), 2);
        assert!(f.take(0).is_none());
        assert!(f.take(4).is_some());
    }
}
