//! The status table every replica shares, over the state topic: started here (the topic made,
//! the view rebuilt, heartbeats, the writer renewed after a fatal error); the send core's
//! [`StatusTable`](crate::server::status_table::StatusTable) in [`status_table`].

mod status_table;

use super::catch_up::CatchUp;
use super::claim_reader::{reader_consumer, ClaimReader};
use super::follower::{consumer, Following, Progress};
use super::keys::SharedKeyLog;
use super::record::{Heartbeat, StateRecord, StatusRecord};
use super::runs::SharedRunBoard;
use super::status_log::StatusLog;
use super::view::StateView;
use super::writer::StateWriter;
use crate::error::AppError;
use crate::model::SendStatus;
use crate::server::fault_proxy::FaultProxy;
use crate::server::idempotency::KeyTable;
use crate::server::kafka::{KafkaSettings, TopicRegistry};
use crate::server::shutdown::Shutdown;
use crate::server::status_store::StatusStore;
use crate::server::status_table::StateAck;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The state topic's settings (`STATE_TOPIC`, `REPLICA_ID`, `REPLICA_LEASE_MS`, ...).
#[derive(Debug, Clone)]
pub struct StateSettings {
    pub topic: String,
    pub partitions: i32,
    pub replica: String,
    pub lease: Duration,
    /// How long a miss may wait for the view to catch up.
    pub catch_up: Duration,
    pub linger_ms: u32,
    /// `STATE_FETCH_WAIT_MS`: the follower's `fetch.wait.max.ms`.
    pub fetch_wait_ms: u32,
    /// How long an async send waits for its PENDING record's acknowledgement.
    pub write_timeout: Duration,
    /// How long a send waits for room in a store full of PENDING statuses
    /// (`KAFKA_MAX_BLOCK_MS`, as for room in librdkafka's queue).
    pub max_block: Duration,
    /// How long a finished status is kept.
    pub max_age: Duration,
    /// How long an idempotency key is honoured (`IDEMPOTENCY_KEY_TTL_SECS`), and how many keys
    /// the view holds at most. The topic's `retention.ms` is the longer of the two ages.
    pub key_ttl: Duration,
    pub key_capacity: usize,
}

/// The cluster settings the follower's consumer is made with, and the proxy it goes through
/// when there is one (kept alive as long as the table: see `BrokerSetup::follower_bootstrap`).
pub struct FollowerRoute {
    pub kafka: KafkaSettings,
    pub proxy: Option<Arc<FaultProxy>>,
}

pub struct SharedStatusTable {
    settings: StateSettings,
    topics: Arc<TopicRegistry>,
    view: Arc<StateView>,
    writer: Arc<StateWriter>,
    /// This replica's status changes, written in bulk.
    statuses: Arc<StatusLog>,
    progress: Arc<Progress>,
    catch_up: Arc<CatchUp>,
    /// `None` once the view was rebuilt from the topic; else why not yet.
    not_ready: watch::Receiver<Option<String>>,
    /// The topic exists: statuses can be written (while the view is still being rebuilt too).
    writable: std::sync::atomic::AtomicBool,
    following: Arc<Following>,
    /// Reads claims back without waiting for the follower.
    claims: Arc<ClaimReader>,
    /// How the follower's consumer reaches the cluster.
    follower: FollowerRoute,
    tasks: Shutdown,
    pub unknown_marked: AtomicU64,
}

impl SharedStatusTable {
    /// Starts writing and following the state topic; the view is rebuilt in the background (the
    /// table says why it is not ready until then).
    pub fn start(
        kafka: &KafkaSettings,
        follower: FollowerRoute,
        topics: Arc<TopicRegistry>,
        store: Arc<StatusStore>,
        settings: StateSettings,
        shutdown: &Shutdown,
    ) -> Result<Arc<Self>, rdkafka::error::KafkaError> {
        let writer = Arc::new(StateWriter::new(kafka, &settings.topic, settings.partitions)?);
        let statuses = Arc::new(StatusLog::new(
            writer.clone(),
            &settings.replica,
            Duration::from_millis(settings.linger_ms.into()),
        ));
        shutdown.spawn(statuses.clone().run(shutdown.token()));
        let (ready_tx, not_ready) = watch::channel(Some(format!(
            "reading the statuses of every replica from the state topic '{}'",
            settings.topic
        )));
        let table = Arc::new(Self {
            view: Arc::new(StateView::new(
                store,
                Arc::new(KeyTable::new(settings.key_ttl, settings.key_capacity)),
                &settings.replica,
            )),
            progress: Arc::new(Progress::new(writer.counters().clone())),
            catch_up: Arc::new(CatchUp::default()),
            writer,
            statuses,
            not_ready,
            writable: std::sync::atomic::AtomicBool::new(false),
            following: Arc::new(Following::new(shutdown.token())),
            claims: Arc::new(ClaimReader::new(&settings.topic, shutdown.token())),
            follower,
            tasks: shutdown.clone(),
            unknown_marked: AtomicU64::new(0),
            settings,
            topics,
        });
        shutdown.spawn(table.clone().set_up(ready_tx, shutdown.clone()));
        Ok(table)
    }

    /// The topic, created with compaction (one record per key) and the status age as its
    /// retention, if it is missing. Its partition count is the one the topic has, whatever this
    /// replica was configured with.
    async fn ensure_topic(&self) -> Result<(), AppError> {
        let retention = self.settings.max_age.max(self.settings.key_ttl).as_millis().to_string();
        let configs = [("cleanup.policy", "compact,delete"), ("retention.ms", retention.as_str())];
        let found = self.topics.ensure_configured(&self.settings.topic, self.settings.partitions, &configs).await?;
        self.writer.adopt_partitions(found).map_err(AppError::internal)
    }

    /// Creates the topic if it is missing (retrying while the broker is away), then follows it,
    /// announces this replica, and rebuilds the view before saying ready.
    async fn set_up(self: Arc<Self>, ready: watch::Sender<Option<String>>, shutdown: Shutdown) {
        let stop = shutdown.token();
        loop {
            match self.ensure_topic().await {
                Ok(_) => {
                    self.writable.store(true, Ordering::Release);
                    break;
                }
                Err(error) => {
                    ready.send_replace(Some(format!("the state topic is not available yet: {error}")));
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
        if let Err(error) = self.follow().await {
            ready.send_replace(Some(error));
            return;
        }
        self.beat(false);
        shutdown.spawn(self.clone().heartbeats(stop.clone()));
        shutdown.spawn(self.clone().renew_on_fatal(stop.clone()));
        let rounds =
            self.catch_up.clone().run(self.writer.clone(), self.progress.clone(), self.view.clone(), stop.clone());
        shutdown.spawn(rounds);
        while let Err(why) = self.catch_up.until_now(Duration::from_secs(30)).await {
            ready.send_replace(Some(format!("the view is being rebuilt from the state topic: {why}")));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        tracing::info!(topic = %self.settings.topic, statuses = self.view.store.len(), replica = %self.settings.replica,
            "status view rebuilt from the state topic");
        ready.send_replace(None);
    }

    /// Follows the topic from its beginning, on a thread of its own (not the runtime's blocking
    /// pool, which a runtime waits for when it is dropped); shutdown waits for it. The consumer
    /// is made on the blocking pool: it waits for the topic's metadata (bounded).
    async fn follow(&self) -> Result<(), String> {
        let (kafka, topic) = (self.follower.kafka.clone(), self.settings.topic.clone());
        let (partitions, fetch_wait_ms) = (self.writer.partitions(), self.settings.fetch_wait_ms);
        let consumer = tokio::task::spawn_blocking(move || consumer(&kafka, &topic, partitions, fetch_wait_ms))
            .await
            .map_err(|e| format!("cannot read the state topic: {e}"))?
            .map_err(|e| format!("cannot read the state topic: {e}"))?;
        let ended = self
            .following
            .start(consumer, self.view.clone(), self.progress.clone())
            .map_err(|e| format!("cannot start following the state topic: {e}"))?;
        self.tasks.spawn(async move {
            let _ = ended.await;
        });
        let reader = reader_consumer(&self.follower.kafka).map_err(|e| format!("cannot read claims back: {e}"))?;
        self.claims.start(reader).map_err(|e| format!("cannot start reading claims back: {e}"))?;
        Ok(())
    }

    fn beat(&self, stopped: bool) {
        let beat = Heartbeat {
            replica: self.settings.replica.clone(),
            lease_ms: self.settings.lease.as_millis() as u64,
            stopped,
        };
        let _ = self.writer.write(&StateRecord::Heartbeat(beat), None, false);
    }

    /// A heartbeat every quarter lease; after each, a catch-up round (who is gone is judged as of
    /// the last round that reached its markers), then PENDING statuses of gone replicas turn
    /// UNKNOWN.
    async fn heartbeats(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let every = (self.settings.lease / 4).max(Duration::from_millis(100));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.beat(false);
            // A round that did not get to the end vouches for nothing: who is gone is judged as
            // of the last one that did.
            let _ = self.catch_up.until_now(every / 2).await;
            let marked = self.view.sweep();
            if marked > 0 {
                self.unknown_marked.fetch_add(marked, Ordering::Relaxed);
                tracing::warn!(marked, "statuses of a stopped replica are now UNKNOWN");
            }
        }
    }

    /// Renews the writer whenever its session met a fatal error (else no state write would ever
    /// succeed again: every async send refused), then writes this replica's statuses again: the
    /// changes the old session still held are lost, and the other replicas would show those
    /// sends PENDING for as long as this replica lives.
    async fn renew_on_fatal(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.writer.trouble() => {}
            }
            let writer = self.writer.clone();
            if !tokio::task::spawn_blocking(move || writer.renew_if_fatal()).await.unwrap_or(false) {
                continue;
            }
            let replica = self.settings.replica.as_str();
            let count = self.statuses.rewrite(|| {
                let mut own = Vec::new();
                self.view.store.for_each(|status| {
                    if status.replica.as_deref() == Some(replica) {
                        own.push(StatusRecord::of(status));
                    }
                });
                own
            });
            tracing::warn!(count, "this replica's statuses written again by the renewed state writer");
        }
    }

    /// At shutdown, once the producers are flushed: writes the last statuses, says this replica
    /// stopped, and waits for every state write (bounded).
    pub fn finish(&self, timeout: Duration) -> i32 {
        self.statuses.write_open();
        self.beat(true);
        self.writer.flush(timeout)
    }

    /// The idempotency keys' log over this table's topic, writer and view.
    pub fn key_log(&self) -> SharedKeyLog {
        SharedKeyLog {
            writer: self.writer.clone(),
            progress: self.progress.clone(),
            view: self.view.clone(),
            replica: self.settings.replica.clone(),
            bound: self.settings.write_timeout,
            catch_up: self.catch_up.clone(),
            catch_up_bound: self.settings.catch_up,
            reader: self.claims.clone(),
        }
    }

    /// The lab's run board over this table's topic, writer and view.
    pub fn run_board(&self) -> SharedRunBoard {
        SharedRunBoard {
            writer: self.writer.clone(),
            view: self.view.clone(),
            catch_up: self.catch_up.clone(),
            replica: self.settings.replica.clone(),
            write_timeout: self.settings.write_timeout,
            catch_up_bound: self.settings.catch_up,
        }
    }

    pub fn writer(&self) -> &StateWriter {
        &self.writer
    }

    /// Observed by the follower for every record it applies (a handle to the same histogram).
    pub fn lag_histogram(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.progress.lag.clone()
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Records this replica wrote that its view has not applied yet, over every partition.
    pub fn lag_records(&self) -> i64 {
        self.progress.own_backlog()
    }

    pub fn alive_count(&self) -> usize {
        self.view.replicas.alive().len()
    }

    /// Idempotency claims decided by reading the log back at once.
    pub fn claims_read_back(&self) -> u64 {
        self.claims.decided.load(Ordering::Relaxed)
    }

    /// Idempotency claims decided from this replica's own records, with nothing read back.
    pub fn claims_decided_from_own_records(&self) -> u64 {
        self.writer.counters().own.decided.load(Ordering::Relaxed)
    }

    pub fn catch_up_rounds(&self) -> u64 {
        self.catch_up.rounds.load(Ordering::Relaxed)
    }

    /// Status changes handed to the state topic (many to a record).
    pub fn changes_written(&self) -> u64 {
        self.statuses.changes_written.load(Ordering::Relaxed)
    }

    fn write_status(&self, status: &SendStatus, want_ack: bool) -> StateAck {
        self.statuses.push(StatusRecord::of(status), want_ack).map_or_else(StateAck::done, StateAck::pending)
    }
}
