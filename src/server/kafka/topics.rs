//! Knows which topics exist and how many partitions they have, and creates a missing topic
//! the first time it is used (the seed relied on broker auto-creation; Tansu has none).

use super::port::{TopicCatalog, Vanished};
use super::settings::KafkaSettings;
use crate::error::AppError;
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::RwLock;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a metadata or admin request may take before the caller gets an error.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the readiness probe waits: short, so an outage shows quickly.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A created topic whose metadata has not shown within this is created again (see
/// `TopicRegistry::create_with`).
const CREATE_AGAIN_AFTER: Duration = Duration::from_secs(1);

pub struct TopicRegistry {
    admin: Arc<AdminClient<DefaultClientContext>>,
    bootstrap: String,
    partitions: i32,
    replication: i32,
    known: RwLock<HashMap<String, i32>>,
    creating: tokio::sync::Mutex<()>,
}

impl TopicRegistry {
    pub fn new(settings: &KafkaSettings, partitions: i32, replication: i32) -> Result<Self, KafkaError> {
        let admin: AdminClient<DefaultClientContext> = admin_config(settings).create()?;
        Ok(Self {
            admin: Arc::new(admin),
            bootstrap: settings.bootstrap_servers.clone(),
            partitions,
            replication,
            known: RwLock::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
        })
    }

    /// The topic's partition count, creating the topic first if it does not exist.
    pub async fn ensure(&self, topic: &str) -> Result<i32, AppError> {
        if let Some(&n) = self.known.read().get(topic) {
            return Ok(n);
        }
        let _guard = self.creating.lock().await;
        if let Some(&n) = self.known.read().get(topic) {
            return Ok(n);
        }
        let n = match self.partition_count(topic).await? {
            Some(n) => n,
            None => self.create(topic).await?,
        };
        self.known.write().insert(topic.to_owned(), n);
        Ok(n)
    }

    /// Forgets what is cached: after the embedded broker restarted empty, or a topic vanished.
    pub fn forget(&self, topic: Option<&str>) {
        let mut known = self.known.write();
        match topic {
            Some(t) => {
                known.remove(t);
            }
            None => known.clear(),
        }
    }

    /// User topics on the cluster (internal `__` ones left out), sorted.
    pub async fn list(&self) -> Result<Vec<String>, AppError> {
        let admin = self.admin.clone();
        let bootstrap = self.bootstrap.clone();
        let names = blocking(move || {
            let md = admin.inner().fetch_metadata(None, ADMIN_TIMEOUT).map_err(|e| unreachable(&bootstrap, &e))?;
            Ok(md.topics().iter().map(|t| t.name().to_owned()).collect::<Vec<_>>())
        })
        .await?;
        let mut names: Vec<String> = names.into_iter().filter(|n| !n.starts_with("__")).collect();
        names.sort();
        Ok(names)
    }

    /// Answers within [`PROBE_TIMEOUT`] whether the cluster responds (with its topics), and if
    /// not, why.
    pub async fn probe(&self) -> Result<Vec<String>, AppError> {
        let admin = self.admin.clone();
        let bootstrap = self.bootstrap.clone();
        blocking(move || {
            let md = admin.inner().fetch_metadata(None, PROBE_TIMEOUT).map_err(|e| unreachable(&bootstrap, &e))?;
            Ok(md.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_owned()).collect())
        })
        .await
    }

    /// Forgets the known topics `listed` lacks.
    pub fn vanished(&self, listed: &[String]) -> Vanished {
        let mut known = self.known.write();
        let before = known.len();
        let topics: Vec<String> = known.keys().filter(|k| !listed.contains(k)).cloned().collect();
        for t in &topics {
            known.remove(t);
        }
        Vanished { all: before > 0 && topics.len() == before, topics }
    }

    async fn partition_count(&self, topic: &str) -> Result<Option<i32>, AppError> {
        let admin = self.admin.clone();
        let bootstrap = self.bootstrap.clone();
        let name = topic.to_owned();
        blocking(move || {
            let md = metadata_within(&admin, &name).map_err(|e| unreachable(&bootstrap, &e))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == name) else {
                return Ok(None);
            };
            match t.error() {
                None if !t.partitions().is_empty() => Ok(Some(t.partitions().len() as i32)),
                None | Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
                Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) => Err(AppError::Forbidden {
                    message: format!("Not authorised to use topic '{name}' on this cluster"),
                }),
                Some(err) => Err(AppError::broker(format!(
                    "Metadata for topic '{name}' failed: {}",
                    RDKafkaErrorCode::from(err)
                ))),
            }
        })
        .await
    }

    /// A topic of the service's own (the state topic): created with its `partitions` and
    /// `configs` if it is missing; its partition count.
    pub async fn ensure_configured(
        &self,
        topic: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<i32, AppError> {
        let n = match self.partition_count(topic).await? {
            Some(n) => n,
            None => self.create_with(topic, partitions, configs).await?,
        };
        // Known, so that a probe notices if it vanishes.
        self.known.write().insert(topic.to_owned(), n);
        Ok(n)
    }

    async fn create(&self, topic: &str) -> Result<i32, AppError> {
        self.create_with(topic, self.partitions, &[]).await
    }

    /// Creates the topic and waits until its metadata shows. That can lag the creation by a
    /// moment; and a broker that died and came back empty in between (a caller's send was the
    /// first after a restart) never shows it: it is asked to create the topic again every
    /// [`CREATE_AGAIN_AFTER`], where the callers waiting behind this creation would otherwise
    /// wait the whole [`ADMIN_TIMEOUT`] for a 504.
    async fn create_with(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<i32, AppError> {
        let deadline = tokio::time::Instant::now() + ADMIN_TIMEOUT;
        loop {
            self.request_creation(topic, partitions, configs).await?;
            let again = (tokio::time::Instant::now() + CREATE_AGAIN_AFTER).min(deadline);
            while tokio::time::Instant::now() < again {
                if let Some(n) = self.partition_count(topic).await? {
                    return Ok(n);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Timeout {
                    message: format!(
                        "Topic '{topic}' was created but its metadata did not appear within {ADMIN_TIMEOUT:?}"
                    ),
                });
            }
        }
    }

    /// One CreateTopics request; a topic that already exists is fine.
    async fn request_creation(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<(), AppError> {
        let replication = TopicReplication::Fixed(self.replication);
        let mut new_topic = NewTopic::new(topic, partitions, replication);
        for (key, value) in configs {
            new_topic = new_topic.set(key, value);
        }
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT)).request_timeout(Some(ADMIN_TIMEOUT));
        let results =
            self.admin.create_topics([&new_topic], &options).await.map_err(|e| {
                AppError::broker(format!("Topic '{topic}' does not exist and could not be created: {e}"))
            })?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic, partitions, "created topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(AppError::broker(format!(
                        "Topic '{topic}' does not exist and could not be created: {code:?}: {code}"
                    )))
                }
            }
        }
        Ok(())
    }
}

impl TopicCatalog for TopicRegistry {
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, AppError>> {
        self.ensure(topic).boxed()
    }

    fn forget(&self, topic: Option<&str>) {
        TopicRegistry::forget(self, topic)
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>> {
        TopicRegistry::list(self).boxed()
    }

    fn probe(&self) -> BoxFuture<'_, Result<Vec<String>, AppError>> {
        TopicRegistry::probe(self).boxed()
    }

    fn vanished(&self, listed: &[String]) -> Vanished {
        TopicRegistry::vanished(self, listed)
    }
}

/// The admin client's settings. Its metadata requests must not create the topics they ask
/// about: librdkafka lets a producer-type client (an admin client is one) ask for that by
/// default, and a broker with `auto.create.topics.enable` (Apache Kafka's default, nisshi's)
/// would then make each topic with its own partition count and no configs, so that
/// `KAFKA_TOPIC_PARTITIONS` and the state topic's compaction and retention would never apply.
fn admin_config(settings: &KafkaSettings) -> rdkafka::ClientConfig {
    let mut config = settings.client_config();
    config.set("allow.auto.create.topics", "false");
    config
}

fn unreachable(bootstrap: &str, error: &KafkaError) -> AppError {
    AppError::Unavailable { message: format!("Kafka at {bootstrap} did not answer: {error}") }
}

/// One topic's metadata within [`ADMIN_TIMEOUT`], asked again every [`PROBE_TIMEOUT`]: a
/// request the broker took with it when it died is never answered, and the callers waiting
/// behind the topic's creation must not wait for it to time out.
fn metadata_within(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<rdkafka::metadata::Metadata, KafkaError> {
    let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
    loop {
        match admin.inner().fetch_metadata(Some(topic), PROBE_TIMEOUT) {
            Err(e)
                if std::time::Instant::now() < deadline
                    && matches!(
                        e.rdkafka_error_code(),
                        Some(
                            RDKafkaErrorCode::OperationTimedOut
                                | RDKafkaErrorCode::RequestTimedOut
                                | RDKafkaErrorCode::BrokerTransportFailure
                                | RDKafkaErrorCode::AllBrokersDown
                        )
                    ) =>
            {
                tracing::debug!(topic, error = %e, "metadata request unanswered; asking again");
            }
            other => return other,
        }
    }
}

/// librdkafka's metadata calls block: keep them off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| AppError::internal(format!("metadata task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::Config;

    /// Tansu creates no topic on a metadata request, so this runs on librdkafka's own mock
    /// broker, which does as Apache Kafka with `auto.create.topics.enable` (its default): a
    /// metadata request that allows it creates the topic, with the broker's partition count (4),
    /// before the registry could create it with `KAFKA_TOPIC_PARTITIONS` and its configs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn asking_for_a_missing_topic_does_not_create_it() {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("librdkafka's mock broker");
        let settings = KafkaSettings::new(&Config::defaults(), cluster.bootstrap_servers());
        let registry = TopicRegistry::new(&settings, 3, 1).expect("admin client");
        for _ in 0..2 {
            assert_eq!(registry.partition_count("orders").await.expect("metadata"), None, "still missing");
        }
    }
}
