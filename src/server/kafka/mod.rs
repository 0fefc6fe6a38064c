//! Everything that talks to Kafka: the seam the send core sees ([`port`]), where delivery
//! reports go ([`reports`]), the rdkafka producers ([`producers`], their threads niced by
//! [`thread_nice`]) and their callbacks ([`reporting`]) and admin client behind it, an in-memory
//! stand-in for tests, settings, the embedded broker and its health.

mod health;
mod in_memory;
mod monitor;
mod pair;
mod port;
mod producers;
mod reporting;
mod reports;
mod settings;
mod supervisor;
mod tansu_process;
mod thread_nice;
mod topics;

pub use in_memory::{InMemoryKafka, StoredRecord};
pub use monitor::{BrokerMonitor, KafkaParts, Readiness};
pub use pair::{ProducerPair, Renewal};
pub use port::{OutgoingRecord, RecordProducer, TopicCatalog, Vanished};
#[cfg(feature = "test-hooks")]
pub use producers::raise_fatal_error;
pub use producers::{describe_kafka_error, is_timeout, KafkaProducer};
pub use reporting::failure;
pub use reports::{DeliveryFailure, DeliveryReport, DeliveryReports, DeliveryTicket};
pub use settings::KafkaSettings;
pub use supervisor::{BrokerLife, EmbeddedBroker};
pub use tansu_process::{BrokerError, TANSU_INSTALL_HINT};
pub use thread_nice::with_nice;
pub use topics::TopicRegistry;
