//! One status as the store keeps it: about a third of a [`SendStatus`]'s size, so that the
//! default 100,000 statuses stay within tens of megabytes. The topic's name is shared between
//! consecutive statuses of the same topic; a key equal to the eventId is not stored twice.

use super::shard::Shared;
use super::Delivered;
use crate::model::{DeliveryState, ProducerMode, RecordSummary, SendMode, SendStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(super) struct CompactStatus {
    pub(super) created: Instant,
    event_id: Box<str>,
    /// `None` when the key is the eventId (the default).
    key: Option<Box<str>>,
    topic: Arc<str>,
    /// The replica that accepted the send (shared between statuses of the same replica).
    pub(super) owner: Option<Arc<str>>,
    error: Option<Box<str>>,
    /// -1 until delivered.
    offset: i64,
    /// -1 until delivered.
    partition: i32,
    /// Microseconds from acceptance to the delivery report; `u32::MAX` until then.
    latency_us: u32,
    pub(super) state: DeliveryState,
    mode: ProducerMode,
    send_mode: SendMode,
    /// The caller's own record, when it gave one (boxed: most sends carry none).
    record: Option<Box<RecordSummary>>,
}

impl CompactStatus {
    /// `shared` holds the topic and replica names to reuse when they match the status's.
    pub(super) fn new(status: SendStatus, shared: &Shared, created: Instant) -> Self {
        let topic = match &shared.topic {
            Some(t) if **t == *status.topic => t.clone(),
            _ => Arc::from(status.topic),
        };
        let owner = status.replica.map(|r| match &shared.owner {
            Some(o) if **o == *r => o.clone(),
            _ => Arc::from(r),
        });
        let key = (status.key != status.event_id).then(|| status.key.into_boxed_str());
        Self {
            created,
            event_id: status.event_id.into_boxed_str(),
            key,
            topic,
            owner,
            error: status.error.map(String::into_boxed_str),
            offset: status.offset.unwrap_or(-1),
            partition: status.partition.unwrap_or(-1),
            latency_us: status.latency_ms.map(|ms| (ms * 1000.0) as u32).unwrap_or(u32::MAX),
            state: status.state,
            mode: status.mode,
            send_mode: status.send_mode,
            record: status.record.map(Box::new),
        }
    }

    pub(super) fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    /// Takes the outcome another replica recorded; a late PENDING never undoes a final state.
    pub(super) fn merge(&mut self, newer: &SendStatus) {
        if newer.state == DeliveryState::Pending && self.state.is_terminal() {
            return;
        }
        self.state = newer.state;
        self.partition = newer.partition.unwrap_or(-1);
        self.offset = newer.offset.unwrap_or(-1);
        self.error = newer.error.clone().map(String::into_boxed_str);
        self.latency_us = newer.latency_ms.map(|ms| (ms * 1000.0) as u32).unwrap_or(u32::MAX);
        if let Some(record) = &newer.record {
            self.record = Some(Box::new(record.clone()));
        }
    }

    /// The replica that accepted the send stopped before its report.
    pub(super) fn mark_unknown(&mut self, reason: String) {
        self.state = DeliveryState::Unknown;
        self.error = Some(reason.into_boxed_str());
    }

    pub(super) fn complete(&mut self, outcome: Delivered, latency: Duration) {
        self.latency_us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX - 1);
        match outcome {
            Delivered::Ok { partition, offset } => {
                self.state = DeliveryState::Ok;
                self.partition = partition;
                self.offset = offset;
                self.error = None;
            }
            Delivered::Failed(error) => {
                self.state = DeliveryState::Error;
                self.partition = -1;
                self.offset = -1;
                self.error = Some(error.into_boxed_str());
            }
        }
    }

    pub(super) fn to_status(&self, request_id: Uuid) -> SendStatus {
        SendStatus {
            request_id,
            state: self.state,
            event_id: self.event_id.to_string(),
            mode: self.mode,
            send_mode: self.send_mode,
            topic: self.topic.to_string(),
            key: self.key.as_deref().unwrap_or(&self.event_id).to_owned(),
            partition: (self.partition >= 0).then_some(self.partition),
            offset: (self.offset >= 0).then_some(self.offset),
            error: self.error.as_deref().map(str::to_owned),
            latency_ms: (self.latency_us != u32::MAX).then(|| f64::from(self.latency_us) / 1000.0),
            replica: self.owner.as_deref().map(str::to_owned),
            record: self.record.as_deref().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(key: &str) -> SendStatus {
        SendStatus {
            request_id: Uuid::nil(),
            mode: ProducerMode::Idempotent,
            topic: "orders".into(),
            key: key.into(),
            ..crate::server::status_store::pending_for_test("E-1")
        }
    }

    #[test]
    fn round_trips_every_field() {
        let id = Uuid::new_v4();
        for key in ["E-1", "customer-7"] {
            let mut compact = CompactStatus::new(status(key), &Shared::default(), Instant::now());
            let back = compact.to_status(id);
            assert_eq!(back, SendStatus { request_id: id, ..status(key) });
            compact.complete(Delivered::Ok { partition: 2, offset: 41 }, Duration::from_micros(1500));
            let done = compact.to_status(id);
            assert_eq!(
                (done.state, done.partition, done.offset, done.latency_ms),
                (DeliveryState::Ok, Some(2), Some(41), Some(1.5))
            );
            assert_eq!(done.key, key);
            compact.complete(Delivered::Failed("Broker: boom".into()), Duration::ZERO);
            let failed = compact.to_status(id);
            assert_eq!(
                (failed.state, failed.partition, failed.error.as_deref()),
                (DeliveryState::Error, None, Some("Broker: boom"))
            );
        }
    }

    #[test]
    fn consecutive_statuses_share_the_topic_name() {
        let first = CompactStatus::new(status("k"), &Shared::default(), Instant::now());
        let shared = Shared { topic: Some(first.topic().clone()), owner: None };
        let second = CompactStatus::new(status("k"), &shared, Instant::now());
        assert!(Arc::ptr_eq(first.topic(), second.topic()));
        let mut other = status("k");
        other.topic = "payments".into();
        let third = CompactStatus::new(other, &shared, Instant::now());
        assert_eq!(&**third.topic(), "payments");
    }
}
