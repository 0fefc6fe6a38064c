//! The fault policy: what the proxy does for a validated fault, what the proxy's state reads as,
//! and the refusals (no proxy, a switch that is not enabled, a scenario that is not a fault).

use crate::error::AppError;
use crate::model::{
    FaultKind, FaultSpec, FaultStatus, ProxyListener, DEFAULT_DELAY_MS, DEFAULT_PRODUCE_REQUESTS, DEFAULT_SLOW_MS,
    DEFAULT_UNAVAILABLE_MS,
};
use crate::server::fault_proxy::{ActiveFault, FaultProxy};
use std::time::{Duration, Instant};

/// The retriable error `produce-error` answers with: NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;

/// What the proxy must do for a validated fault (`None` for faults the proxy has no part in).
pub fn proxy_fault(spec: &FaultSpec) -> Option<ActiveFault> {
    let remaining = spec.produce_requests.unwrap_or(DEFAULT_PRODUCE_REQUESTS);
    match spec.kind {
        FaultKind::DelayProduceResponse => Some(ActiveFault::DelayProduceResponse {
            delay: Duration::from_millis(spec.delay_ms.unwrap_or(DEFAULT_DELAY_MS)),
            remaining,
        }),
        FaultKind::DropConnectionAfterProduce => Some(ActiveFault::DropConnectionAfterProduce { remaining }),
        FaultKind::BrokerUnavailable => Some(ActiveFault::BrokerUnavailable {
            until: Instant::now() + Duration::from_millis(spec.duration_ms.unwrap_or(DEFAULT_UNAVAILABLE_MS)),
        }),
        FaultKind::ProduceError => Some(ActiveFault::ProduceError { remaining, error_code: NOT_LEADER_OR_FOLLOWER }),
        FaultKind::BrokerSlow => {
            Some(ActiveFault::BrokerSlow { delay: Duration::from_millis(spec.delay_ms.unwrap_or(DEFAULT_SLOW_MS)) })
        }
        FaultKind::None | FaultKind::ClientRetry | FaultKind::ClientRetryWithKey => None,
    }
}

/// The proxy's fault and listeners as the API reports them.
pub fn status_of(proxy: &FaultProxy, global_switch: bool, cluster: &str) -> FaultStatus {
    let mut status = FaultStatus::unavailable();
    status.available = true;
    status.global_switch = global_switch;
    status.cluster = cluster.to_owned();
    status.listeners = proxy
        .listeners()
        .into_iter()
        .map(|l| ProxyListener { node_id: l.node_id, proxy: l.proxy_addr.to_string(), upstream: l.upstream })
        .collect();
    match proxy.fault() {
        ActiveFault::None => {}
        ActiveFault::DelayProduceResponse { delay, remaining } => {
            status.kind = FaultKind::DelayProduceResponse;
            status.delay_ms = Some(delay.as_millis() as u64);
            status.produce_requests_left = Some(remaining);
        }
        ActiveFault::DropConnectionAfterProduce { remaining } => {
            status.kind = FaultKind::DropConnectionAfterProduce;
            status.produce_requests_left = Some(remaining);
        }
        ActiveFault::BrokerUnavailable { until } => {
            status.kind = FaultKind::BrokerUnavailable;
            status.ms_left = Some(until.saturating_duration_since(Instant::now()).as_millis() as u64);
        }
        ActiveFault::ProduceError { remaining, .. } => {
            status.kind = FaultKind::ProduceError;
            status.produce_requests_left = Some(remaining);
        }
        ActiveFault::BrokerSlow { delay } => {
            status.kind = FaultKind::BrokerSlow;
            status.delay_ms = Some(delay.as_millis() as u64);
        }
    }
    status
}

/// A fault asked for where there is no proxy to inject it: the cluster is reached over TLS.
pub fn no_proxy(kind: FaultKind) -> AppError {
    AppError::Rejected {
        status: 409,
        message: format!(
            "The fault '{}' needs the fault proxy, which reads Kafka's frames and so needs a plaintext (or \
             SASL_PLAINTEXT) listener; this service reaches its cluster over TLS (KAFKA_SECURITY_PROTOCOL). Run \
             the lab against a plaintext listener of the cluster; 'none' and 'client-retry' work everywhere",
            kind.as_str()
        ),
    }
}

/// The global switch is off: faults would reach every send of the service.
pub fn switch_disabled() -> AppError {
    AppError::Rejected {
        status: 409,
        message: "The global fault switch is off on this service: a fault switched on here would reach every send \
                  through it, not only lab runs. Start the service with LAB_GLOBAL_FAULTS=true to enable it (it is \
                  on by default only with the embedded broker); lab runs use their own producers and topics and \
                  work without it"
            .into(),
    }
}

/// The global switch takes proxy faults only.
pub fn not_a_switch(kind: FaultKind) -> AppError {
    AppError::invalid(
        crate::model::Field::Fault,
        format!("{} is a lab scenario (the caller sends twice), not a proxy fault", kind.as_str()),
    )
}
