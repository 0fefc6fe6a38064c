//! The fault policy: what the proxy does for a validated fault, what the proxy's state reads as,
//! and the refusal when there is no proxy.

use super::proxy::{ActiveFault, FaultProxy};
use crate::error::AppError;
use crate::model::{
    FaultKind, FaultSpec, FaultStatus, DEFAULT_DELAY_MS, DEFAULT_PRODUCE_REQUESTS, DEFAULT_UNAVAILABLE_MS,
};
use std::time::{Duration, Instant};

/// What the proxy must do for a validated fault (`None` for faults the proxy has no part in).
pub fn proxy_fault(spec: &FaultSpec) -> Option<ActiveFault> {
    match spec.kind {
        FaultKind::DelayProduceResponse => Some(ActiveFault::DelayProduceResponse {
            delay: Duration::from_millis(spec.delay_ms.unwrap_or(DEFAULT_DELAY_MS)),
            remaining: spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS),
        }),
        FaultKind::DropConnectionAfterProduce => Some(ActiveFault::DropConnectionAfterProduce {
            remaining: spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS),
        }),
        FaultKind::BrokerUnavailable => Some(ActiveFault::BrokerUnavailable {
            until: Instant::now() + Duration::from_millis(spec.duration_ms.unwrap_or(DEFAULT_UNAVAILABLE_MS)),
        }),
        FaultKind::None | FaultKind::ClientRetry => None,
    }
}

/// The proxy's fault as the API reports it.
pub fn status_of(proxy: &FaultProxy) -> FaultStatus {
    let (kind, delay_ms, produce_requests_left, ms_left) = match proxy.fault() {
        ActiveFault::None => (FaultKind::None, None, None, None),
        ActiveFault::DelayProduceResponse { delay, remaining } => {
            (FaultKind::DelayProduceResponse, Some(delay.as_millis() as u64), Some(remaining), None)
        }
        ActiveFault::DropConnectionAfterProduce { remaining } => {
            (FaultKind::DropConnectionAfterProduce, None, Some(remaining), None)
        }
        ActiveFault::BrokerUnavailable { until } => (
            FaultKind::BrokerUnavailable,
            None,
            None,
            Some(until.saturating_duration_since(Instant::now()).as_millis() as u64),
        ),
    };
    FaultStatus { available: true, kind, delay_ms, produce_requests_left, ms_left }
}

/// A fault asked for where there is no proxy to inject it.
pub fn no_proxy(kind: FaultKind) -> AppError {
    AppError::Rejected {
        status: 409,
        message: format!(
            "The fault '{}' is injected by the proxy in front of the embedded broker; this service uses an \
             external cluster (KAFKA_BOOTSTRAP_SERVERS). Start it without that variable to use faults; \
             'none' and 'client-retry' work everywhere",
            kind.as_str()
        ),
    }
}

/// The global switch takes proxy faults only.
pub fn not_a_switch(kind: FaultKind) -> AppError {
    AppError::invalid(
        crate::model::Field::Fault,
        format!("{} is a lab scenario (the caller sends twice), not a proxy fault", kind.as_str()),
    )
}
