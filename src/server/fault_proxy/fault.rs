//! The fault the proxy applies (one at a time, switchable at any moment, to every connection),
//! what a Produce request gets from it, and the proxy's counters.

use super::inflight::Action;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The fault in effect. Counted faults apply to the next `remaining` Produce requests that
/// cross the proxy, whatever their connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ActiveFault {
    #[default]
    None,
    /// Forward the Produce request at once, hold its response `delay` (longer than the
    /// client's socket.timeout.ms, so it retries). Later responses on the connection wait too.
    DelayProduceResponse { delay: Duration, remaining: u32 },
    /// Forward the Produce request, then close the connection instead of returning its response.
    DropConnectionAfterProduce { remaining: u32 },
    /// Close every open connection, refuse new ones until `until`.
    BrokerUnavailable { until: Instant },
    /// Answer the Produce request with `error_code` (retriable: 6 NOT_LEADER_OR_FOLLOWER or
    /// 7 REQUEST_TIMED_OUT) without forwarding it.
    ProduceError { remaining: u32, error_code: i16 },
    /// Hold every Produce response `delay` (below socket.timeout.ms: slow, no retries).
    BrokerSlow { delay: Duration },
}

impl ActiveFault {
    /// Whether the broker plays absent at `now`.
    pub fn unavailable_at(&self, now: Instant) -> bool {
        matches!(self, ActiveFault::BrokerUnavailable { until } if now < *until)
    }

    /// The error code of an armed ProduceError, if any.
    pub(crate) fn armed_produce_error(&self) -> Option<i16> {
        match self {
            ActiveFault::ProduceError { remaining, error_code } if *remaining > 0 => Some(*error_code),
            _ => None,
        }
    }

    /// Consumes one unit of an armed ProduceError.
    pub(crate) fn take_produce_error(&mut self) -> Option<i16> {
        match self {
            ActiveFault::ProduceError { remaining, error_code } if *remaining > 0 => {
                *remaining -= 1;
                Some(*error_code)
            }
            _ => None,
        }
    }

    /// What the response to a forwarded Produce request gets (consumes counted units).
    pub(crate) fn take_produce_hold(&mut self) -> Action {
        match self {
            ActiveFault::DelayProduceResponse { delay, remaining } if *remaining > 0 => {
                *remaining -= 1;
                Action::Delay(*delay)
            }
            ActiveFault::DropConnectionAfterProduce { remaining } if *remaining > 0 => {
                *remaining -= 1;
                Action::Drop
            }
            ActiveFault::BrokerSlow { delay } => Action::Delay(*delay),
            _ => Action::Pass,
        }
    }
}

/// What the proxy did, for reports and metrics.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Client connections accepted and relayed (bootstrap and node listeners).
    pub connections: AtomicU64,
    pub produce_requests: AtomicU64,
    /// Produce responses held (DelayProduceResponse and BrokerSlow).
    pub delayed_responses: AtomicU64,
    /// Connections closed instead of returning a Produce response.
    pub dropped_connections: AtomicU64,
    /// Connections refused while the broker plays absent.
    pub refused_connections: AtomicU64,
    /// Produce requests the proxy answered itself with an error.
    pub produce_errors: AtomicU64,
    /// Connections closed because of a request or response the proxy would not pass.
    pub refused_requests: AtomicU64,
}

/// A plain copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub connections: u64,
    pub produce_requests: u64,
    pub delayed_responses: u64,
    pub dropped_connections: u64,
    pub refused_connections: u64,
    pub produce_errors: u64,
    pub refused_requests: u64,
}

impl ProxyCounters {
    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            connections: get(&self.connections),
            produce_requests: get(&self.produce_requests),
            delayed_responses: get(&self.delayed_responses),
            dropped_connections: get(&self.dropped_connections),
            refused_connections: get(&self.refused_connections),
            produce_errors: get(&self.produce_errors),
            refused_requests: get(&self.refused_requests),
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out() {
        let d = Duration::from_millis(10);
        let mut f = ActiveFault::DelayProduceResponse { delay: d, remaining: 1 };
        assert_eq!(f.take_produce_hold(), Action::Delay(d));
        assert_eq!(f.take_produce_hold(), Action::Pass);
        let mut f = ActiveFault::ProduceError { remaining: 1, error_code: 6 };
        assert_eq!(f.armed_produce_error(), Some(6));
        assert_eq!(f.take_produce_error(), Some(6));
        assert_eq!(f.armed_produce_error(), None);
        assert_eq!(f.take_produce_hold(), Action::Pass);
        let mut f = ActiveFault::BrokerSlow { delay: d };
        assert_eq!(f.take_produce_hold(), Action::Delay(d));
        assert_eq!(f.take_produce_hold(), Action::Delay(d));
    }
}
