//! What the shared status table shows on `/metrics`: state records written and applied, how
//! far the view is behind this replica's own writes, and the statuses turned UNKNOWN.

use super::table::SharedStatusTable;
use crate::server::metrics::ScrapeSource;
use std::sync::atomic::Ordering;

impl ScrapeSource for SharedStatusTable {
    fn gauges(&self) -> Vec<(&'static str, &'static str, i64)> {
        let lag = self.lag_records();
        let lag_ms = if lag > 0 { self.progress().last_delay_ms.load(Ordering::Relaxed) } else { 0 };
        vec![
            ("state_view_lag_records", "State records this replica wrote that its view has not applied yet", lag),
            ("state_view_lag_ms", "How old the last record the view applied was, while it is behind", lag_ms),
            ("state_replicas_alive", "Replicas whose heartbeat holds", self.alive_count() as i64),
        ]
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let writer = self.writer().counters();
        vec![
            ("state_records_written", "Records the state topic acknowledged", writer.written.load(Ordering::Relaxed)),
            ("state_write_errors", "State records refused or failed", writer.failed.load(Ordering::Relaxed)),
            (
                "state_writer_renewals",
                "State topic writers started anew (after a fatal error, or a broker that lost its state)",
                writer.renewed.load(Ordering::Relaxed),
            ),
            (
                "state_status_changes_written",
                "Status changes handed to the state topic, many to a record",
                self.changes_written(),
            ),
            (
                "state_records_applied",
                "State records applied to the view",
                self.progress().applied.load(Ordering::Relaxed),
            ),
            ("state_catch_up_rounds", "Catch-up rounds (markers written and read back)", self.catch_up_rounds()),
            (
                "state_claims_read_back",
                "Idempotency claims decided by reading the log back at once, before the follower",
                self.claims_read_back(),
            ),
            (
                "state_claims_from_own_records",
                "Idempotency claims decided with nothing read back: only this replica's own records lay before them",
                self.claims_decided_from_own_records(),
            ),
            (
                "status_unknown",
                "PENDING statuses turned UNKNOWN: their replica stopped first",
                self.unknown_marked.load(Ordering::Relaxed),
            ),
        ]
    }
}
