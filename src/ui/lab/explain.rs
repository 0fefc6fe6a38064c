//! The plain-language reading of a lab comparison: what happened, why, and what idempotence
//! does not cover.

use crate::model::{FaultKind, LabRunReport};

/// What one run's figures say, in one sentence.
pub fn summarize(run: &LabRunReport) -> String {
    let v = &run.verification;
    let mut parts = vec![format!(
        "{} sent {} event(s); the topic holds {} record(s) of them",
        run.mode, run.count, v.records_in_topic
    )];
    if v.duplicates > 0 {
        parts.push(format!("{} event(s) written more than once", v.duplicates));
    }
    if v.lost > 0 {
        parts.push(format!("{} event(s) missing", v.lost));
    }
    if v.out_of_order > 0 {
        parts.push(format!("{} record(s) out of order for their key", v.out_of_order));
    }
    if v.duplicates == 0 && v.lost == 0 && v.out_of_order == 0 {
        parts.push("each exactly once, in order".into());
    }
    parts.join(", ") + "."
}

/// Why the two producers differ (or do not) under this fault.
pub fn explain(fault: FaultKind, plain: &LabRunReport, idempotent: &LabRunReport) -> Vec<String> {
    let mut lines = vec![fault.explain().to_owned()];
    match fault {
        FaultKind::ClientRetry => {
            lines.push(
                "Both producers wrote each event twice: producer idempotence removes the producer's own \
                 retries inside one producer session (same producer id, same sequence numbers). A caller that \
                 sends again makes a new record with a new sequence number, which the broker must accept."
                    .into(),
            );
            lines.push(
                "The fix lives above Kafka: an Idempotency-Key at the HTTP layer, so that a repeated request \
                 gets the first answer instead of producing again. Run client-retry-with-key to see it."
                    .into(),
            );
        }
        FaultKind::ClientRetryWithKey => {
            lines.push(format!(
                "Both producers wrote each event once ({} and {} record(s) for {} events): the service recorded the \
                 first answer with its Idempotency-Key and replayed it to the repeat, which sent nothing.",
                plain.verification.records_in_topic, idempotent.verification.records_in_topic, plain.count
            ));
            lines.push(
                "Each layer covers its own retries: producer idempotence the producer's resends inside one \
                 session (same producer id and sequence numbers), the Idempotency-Key the caller's resends of the \
                 same event, on any replica, for IDEMPOTENCY_KEY_TTL_SECS. Neither covers a caller that makes a \
                 new key for the same event: consumers can check the record's idempotency-key header."
                    .into(),
            );
        }
        FaultKind::None => lines.push(
            "Without a fault nothing is retried, so both producers write each event once: the difference only \
             shows when something fails between the producer and the broker."
                .into(),
        ),
        FaultKind::ProduceError => lines.push(format!(
            "Both producers retried (plain re-sent {} message(s), idempotent {}), and both wrote each event once: \
             the broker had written nothing of the refused requests. A retry duplicates only what the broker \
             already wrote, which is what an answer lost on its way back looks like.",
            plain.resent_messages, idempotent.resent_messages
        )),
        FaultKind::BrokerSlow => lines.push(format!(
            "Answers took longer (slowest {:.0} ms plain, {:.0} ms idempotent) but arrived before \
             socket.timeout.ms, so nothing was retried and nothing was written twice: slow is not lost.",
            plain.latency_max_ms.unwrap_or_default(),
            idempotent.latency_max_ms.unwrap_or_default()
        )),
        _ => {
            if plain.verification.duplicates > 0 && idempotent.verification.duplicates == 0 {
                lines.push(format!(
                    "The plain producer retried batches the broker had already written: {} event(s) now appear \
                     more than once. The idempotent producer's retries carried the same producer id and sequence \
                     numbers, so the broker recognised them and kept one copy of each.",
                    plain.verification.duplicates
                ));
            } else if plain.verification.duplicates == 0 {
                lines.push(
                    "This time the fault did not make the plain producer write a batch twice (the retry may have \
                     happened before the broker wrote anything). Run again, or raise the count."
                        .into(),
                );
            }
            if plain.verification.out_of_order > 0 && idempotent.verification.out_of_order == 0 {
                lines.push(
                    "With several requests in flight, a retried batch can land after a later one: the plain \
                     producer reordered records of a key; the idempotent one keeps order (max 5 in flight)."
                        .into(),
                );
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FaultSpec, LabRunState, ProducerMode, SendMode, Verification};
    use std::collections::BTreeMap;

    fn run(mode: ProducerMode, duplicates: u64) -> LabRunReport {
        LabRunReport {
            id: "r".into(),
            state: LabRunState::Done,
            mode,
            send_mode: SendMode::Async,
            count: 200,
            fault: FaultSpec::of(FaultKind::DelayProduceResponse),
            topic: "t".into(),
            settings: vec![],
            cluster: String::new(),
            via: None,
            sent: 200,
            replayed: 0,
            acked: 200,
            failed: 0,
            unknown: 0,
            unknown_reason: None,
            resent_messages: 0,
            latency_p50_ms: None,
            latency_max_ms: None,
            verification: Verification {
                records_in_topic: 200 + duplicates,
                distinct_events: 200,
                duplicates,
                copy_histogram: BTreeMap::from([(1, 200 - duplicates), (2, duplicates)]),
                ..Default::default()
            },
            duration_ms: 10,
            error: None,
        }
    }

    #[test]
    fn explains_duplicates_of_the_plain_producer() {
        let lines =
            explain(FaultKind::DelayProduceResponse, &run(ProducerMode::Plain, 37), &run(ProducerMode::Idempotent, 0));
        assert!(lines.iter().any(|l| l.contains("37 event(s)")), "{lines:?}");
        assert_eq!(
            summarize(&run(ProducerMode::Idempotent, 0)),
            "idempotent sent 200 event(s); the topic holds 200 record(s) of them, each exactly once, in order."
        );
    }

    #[test]
    fn client_retry_points_to_an_idempotency_key() {
        let lines =
            explain(FaultKind::ClientRetry, &run(ProducerMode::Plain, 200), &run(ProducerMode::Idempotent, 200));
        assert!(lines.iter().any(|l| l.contains("Idempotency-Key")), "{lines:?}");
    }
}
