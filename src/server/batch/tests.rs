//! The batch core over Kafka in memory and a status table whose acknowledgements the test gives
//! (`CountingTable`): an async batch sends its records without waiting for their PENDING
//! statuses one by one, and answers only once all of them are acknowledged.

use super::input::RecordInput;
use super::BatchService;
use crate::model::SendParams;
use crate::server::access::AccessPolicy;
use crate::server::config::Config;
use crate::server::kafka::{DeliveryReports, InMemoryKafka};
use crate::server::metrics::SendMetrics;
use crate::server::send::{KafkaPorts, SendService};
use crate::server::status_store::StatusStore;
use crate::server::status_table::CountingTable;
use std::sync::Arc;
use std::time::Duration;

fn batch_service() -> (BatchService, Arc<CountingTable>, Arc<InMemoryKafka>) {
    let config = Config::defaults();
    let store = Arc::new(StatusStore::new(1000, Duration::from_secs(60)));
    let table = Arc::new(CountingTable::new(store));
    let metrics = SendMetrics::detached();
    let kafka = Arc::new(InMemoryKafka::new(Arc::new(DeliveryReports::new(table.clone(), metrics.clone())), 1));
    let ports = KafkaPorts { producers: kafka.clone(), topics: kafka.clone() };
    let access = Arc::new(AccessPolicy::new(&config));
    let send = SendService::new(ports, table.clone(), access, metrics, "t", Duration::from_secs(5));
    (BatchService::new(send, 100), table, kafka)
}

#[tokio::test]
async fn an_async_batch_sends_every_record_at_once_and_answers_once_their_statuses_are_shared() {
    let (batches, table, kafka) = batch_service();
    let params = SendParams {
        mode: Some("plain".into()),
        send_mode: Some("async".into()),
        topic: Some("t".into()),
        ..Default::default()
    };
    let records = (0..3).map(|i| Ok(Ok(RecordInput::event(format!("e-{i}")))));
    let run = tokio::spawn(async move { batches.run(params, futures::stream::iter(records)).await });
    let sent = || table.held.lock().len() == 3 && kafka.records("t").len() == 3;
    for _ in 0..10_000 {
        if sent() {
            break;
        }
        assert!(!run.is_finished(), "the batch ended before its records were sent: {:?}", run.await);
        tokio::task::yield_now().await;
    }
    assert!(sent(), "every record is sent, its PENDING status written beside it and not yet acknowledged");
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!run.is_finished(), "answered before the PENDING statuses were acknowledged");
    for ack in table.held.lock().drain(..) {
        let _ = ack.send(Ok((0, 0)));
    }
    let answer = run.await.expect("joined").expect("answered");
    assert_eq!((answer.records, answer.succeeded), (3, 3));
}
