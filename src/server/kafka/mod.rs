//! Everything that talks to Kafka: settings, the producer pair, topics, the embedded broker.

mod monitor;
mod pair;
mod producers;
mod settings;
mod supervisor;
mod topics;

pub use monitor::{BrokerMonitor, Readiness};
pub use pair::ProducerPair;
pub use producers::{describe_kafka_error, is_timeout, DeliveryReport, DeliveryTicket, KafkaProducer};
pub use settings::KafkaSettings;
pub use supervisor::{BrokerLife, EmbeddedBroker, TANSU_INSTALL_HINT};
pub use topics::TopicRegistry;
