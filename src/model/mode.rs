use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which producer carries an event: the choice the whole tool is about.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProducerMode {
    /// `acks=1`, no idempotence: fast, but a retried request can be written twice.
    Plain,
    /// `enable.idempotence=true`, `acks=all`, at most 5 requests in flight: the broker
    /// discards the producer's own retries, so each record is written once and in order.
    Idempotent,
}

impl ProducerMode {
    pub const ALL: [ProducerMode; 2] = [ProducerMode::Plain, ProducerMode::Idempotent];

    pub fn as_str(self) -> &'static str {
        match self {
            ProducerMode::Plain => "plain",
            ProducerMode::Idempotent => "idempotent",
        }
    }

    /// One line a person can read next to the choice.
    pub fn guarantee(self) -> &'static str {
        match self {
            ProducerMode::Plain => "acks=1, no idempotence: a retry after a lost response can write the event twice.",
            ProducerMode::Idempotent => "acks=all, idempotent: the producer's own retries are written once, in order.",
        }
    }
}

impl fmt::Display for ProducerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProducerMode {
    type Err = ();

    /// Case-insensitive, as the seed tutorial's clients expect (`mode=Idempotent` works).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("plain") {
            Ok(ProducerMode::Plain)
        } else if s.eq_ignore_ascii_case("idempotent") {
            Ok(ProducerMode::Idempotent)
        } else {
            Err(())
        }
    }
}

/// Whether the caller waits for the broker's acknowledgement.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    /// Answer once the broker acknowledged: the answer carries partition and offset.
    Sync,
    /// Answer at once with a request id; the delivery report lands in the status store.
    Async,
}

impl SendMode {
    pub const ALL: [SendMode; 2] = [SendMode::Sync, SendMode::Async];

    pub fn as_str(self) -> &'static str {
        match self {
            SendMode::Sync => "sync",
            SendMode::Async => "async",
        }
    }
}

impl fmt::Display for SendMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SendMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("sync") {
            Ok(SendMode::Sync)
        } else if s.eq_ignore_ascii_case("async") {
            Ok(SendMode::Async)
        } else {
            Err(())
        }
    }
}
