//! A lab run and a fault as a form or a JSON body gives them: text fields, validated by the same
//! code on both sides and for both doors (the browser checks the form with it; REST and the
//! server functions both hand their input to it), so every door answers with the same message
//! and the same field.

use super::{
    FaultKind, FaultSpec, LabRunSpec, DEFAULT_DELAY_MS, DEFAULT_PRODUCE_REQUESTS, DEFAULT_SLOW_MS,
    DEFAULT_UNAVAILABLE_MS, LAB_SOCKET_TIMEOUT_MS, MAX_LAB_COUNT,
};
use crate::model::{Field, ProducerMode, SendMode, ValidationError};
use serde::{Deserialize, Serialize};

/// A fault and its parameters, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultParams {
    pub fault: Option<String>,
    pub delay_ms: Option<String>,
    pub produce_requests: Option<String>,
    pub duration_ms: Option<String>,
}

/// A lab run, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabParams {
    pub mode: Option<String>,
    pub count: Option<String>,
    pub send_mode: Option<String>,
    pub fault: Option<String>,
    pub delay_ms: Option<String>,
    pub produce_requests: Option<String>,
    pub duration_ms: Option<String>,
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn optional_number<T: std::str::FromStr>(field: Field, raw: &Option<String>) -> Result<Option<T>, ValidationError> {
    match text(raw) {
        None => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| {
            ValidationError::new(field, format!("{field} must be a whole number >= 0, got '{}'", s.escape_debug()))
        }),
    }
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    field: Field,
    value: T,
    range: std::ops::RangeInclusive<T>,
    rule: &str,
) -> Result<T, ValidationError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ValidationError::new(field, format!("{field} must be {rule}, got {value}")))
    }
}

impl FaultParams {
    /// The fault's kind and every parameter it uses, defaults filled in; parameters the kind
    /// does not use are ignored.
    pub fn validate(&self) -> Result<FaultSpec, ValidationError> {
        let kind = match text(&self.fault) {
            None => FaultKind::None,
            Some(f) => f.parse::<FaultKind>().map_err(|()| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.as_str()).collect();
                ValidationError::new(
                    Field::Fault,
                    format!("Unknown fault '{}': expected one of {}", f.escape_debug(), names.join(", ")),
                )
            })?,
        };
        let mut spec = FaultSpec::of(kind);
        let produce_requests = || -> Result<u32, ValidationError> {
            let n =
                optional_number(Field::ProduceRequests, &self.produce_requests)?.unwrap_or(DEFAULT_PRODUCE_REQUESTS);
            in_range(Field::ProduceRequests, n, 1..=1000, "1 to 1000")
        };
        match kind {
            FaultKind::DelayProduceResponse => {
                let delay = optional_number(Field::DelayMs, &self.delay_ms)?.unwrap_or(DEFAULT_DELAY_MS);
                let rule = format!("above the lab's socket.timeout.ms ({LAB_SOCKET_TIMEOUT_MS}) and at most 60000");
                spec.delay_ms =
                    Some(in_range(Field::DelayMs, delay, u64::from(LAB_SOCKET_TIMEOUT_MS) + 1..=60_000, &rule)?);
                spec.produce_requests = Some(produce_requests()?);
            }
            FaultKind::DropConnectionAfterProduce | FaultKind::ProduceError => {
                spec.produce_requests = Some(produce_requests()?)
            }
            FaultKind::BrokerSlow => {
                let delay = optional_number(Field::DelayMs, &self.delay_ms)?.unwrap_or(DEFAULT_SLOW_MS);
                let rule = format!(
                    "1 to {} (below the lab's socket.timeout.ms, so nothing is retried)",
                    LAB_SOCKET_TIMEOUT_MS - 1
                );
                spec.delay_ms = Some(in_range(Field::DelayMs, delay, 1..=u64::from(LAB_SOCKET_TIMEOUT_MS) - 1, &rule)?);
            }
            FaultKind::BrokerUnavailable => {
                let duration = optional_number(Field::DurationMs, &self.duration_ms)?.unwrap_or(DEFAULT_UNAVAILABLE_MS);
                spec.duration_ms = Some(in_range(Field::DurationMs, duration, 1..=20_000, "1 to 20000")?);
            }
            FaultKind::None | FaultKind::ClientRetry | FaultKind::ClientRetryWithKey => {}
        }
        Ok(spec)
    }
}

impl LabParams {
    pub fn fault_params(&self) -> FaultParams {
        FaultParams {
            fault: self.fault.clone(),
            delay_ms: self.delay_ms.clone(),
            produce_requests: self.produce_requests.clone(),
            duration_ms: self.duration_ms.clone(),
        }
    }

    pub fn validate(&self) -> Result<LabRunSpec, ValidationError> {
        let mode = match text(&self.mode) {
            None => return Err(ValidationError::new(Field::Mode, "Missing: mode (plain|idempotent)")),
            Some(m) => m.parse::<ProducerMode>().map_err(|()| {
                ValidationError::new(
                    Field::Mode,
                    format!("Unknown mode '{}': expected plain or idempotent", m.escape_debug()),
                )
            })?,
        };
        let count = optional_number::<u32>(Field::Count, &self.count)?.unwrap_or(200);
        let count = in_range(Field::Count, count, 1..=MAX_LAB_COUNT, &format!("1 to {MAX_LAB_COUNT}"))?;
        let send_mode = match text(&self.send_mode) {
            None => SendMode::Async,
            Some(m) => m.parse::<SendMode>().map_err(|()| {
                ValidationError::new(
                    Field::SendMode,
                    format!("Unknown sendMode '{}': expected sync or async", m.escape_debug()),
                )
            })?,
        };
        Ok(LabRunSpec { mode, count, send_mode, fault: self.fault_params().validate()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(pairs: &[(&str, &str)]) -> LabParams {
        let mut p = LabParams { mode: Some("plain".into()), ..Default::default() };
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "mode" => p.mode = v,
                "count" => p.count = v,
                "sendMode" => p.send_mode = v,
                "fault" => p.fault = v,
                "delayMs" => p.delay_ms = v,
                "produceRequests" => p.produce_requests = v,
                "durationMs" => p.duration_ms = v,
                other => panic!("unknown field {other}"),
            }
        }
        p
    }

    #[test]
    fn defaults_make_the_fault_bite() {
        let ok = lab(&[("mode", "Plain")]).validate().unwrap();
        assert_eq!((ok.count, ok.send_mode, ok.fault.kind), (200, SendMode::Async, FaultKind::None));
        let delayed = lab(&[("fault", "delay-produce-response")]).validate().unwrap();
        assert_eq!((delayed.fault.delay_ms, delayed.fault.produce_requests), (Some(2500), Some(3)));
        let away = lab(&[("fault", "broker-unavailable"), ("delayMs", "5")]).validate().unwrap();
        assert_eq!((away.fault.duration_ms, away.fault.delay_ms), (Some(2000), None), "unused parameters ignored");
    }

    #[test]
    fn each_refusal_names_its_field() {
        for (pairs, field) in [
            (vec![("count", "0")], Field::Count),
            (vec![("count", "100001")], Field::Count),
            (vec![("count", "many")], Field::Count),
            (vec![("fault", "meteor")], Field::Fault),
            (vec![("fault", "delay-produce-response"), ("delayMs", "-5")], Field::DelayMs),
            (vec![("fault", "delay-produce-response"), ("delayMs", "1000")], Field::DelayMs),
            (vec![("fault", "drop-connection-after-produce"), ("produceRequests", "0")], Field::ProduceRequests),
            (vec![("fault", "broker-unavailable"), ("durationMs", "20001")], Field::DurationMs),
            (vec![("sendMode", "later")], Field::SendMode),
            (vec![("mode", "")], Field::Mode),
        ] {
            assert_eq!(lab(&pairs).validate().unwrap_err().field, field, "{pairs:?}");
        }
        assert_eq!(lab(&[("count", "0")]).validate().unwrap_err().message, "count must be 1 to 100000, got 0");
    }
}
