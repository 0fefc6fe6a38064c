//! Statuses kept in Kafka, shared by every replica: status changes are records of the state
//! topic ([`record`]), many to a record ([`status_log`]), written by the service's own
//! idempotent producer ([`writer`]); every replica follows the topic from its beginning into a
//! bounded local view ([`follower`], how far it read in [`progress`]; [`view`]), catches up
//! before it answers "unknown id" ([`catch_up`]), and announces itself with heartbeats so the
//! others can tell when its PENDING sends can no longer be reported ([`replicas`], UNKNOWN). The
//! idempotency keys' claims and answers live there too ([`keys`]; a claim among nothing but this
//! replica's own records is decided without reading back, [`own_records`]), as do async batches'
//! lists of records and the lab's runs ([`runs`]), so any replica answers for them. Only the
//! Kafka protocol is used: it runs unchanged on Apache Kafka, Redpanda, MSK or Tansu.

pub mod catch_up;
pub mod claim_reader;
pub mod follower;
mod keys;
mod metrics;
pub mod own_records;
pub mod progress;
pub mod record;
pub mod replicas;
mod runs;
mod status_log;
mod table;
pub mod view;
pub mod writer;

pub use keys::SharedKeyLog;
pub use runs::SharedRunBoard;
pub use table::{FollowerRoute, SharedStatusTable, StateSettings};
