//! What a send puts in its record: the caller's own value and headers, or the seed's JSON value
//! (`{eventId, mode, sendMode, api, ts}`), plus the `idempotency-key` header of a keyed send.

use crate::error::AppError;
use crate::model::SendRequest;
use crate::server::idempotency::IDEMPOTENCY_KEY_HEADER;
use serde::Serialize;
use std::borrow::Cow;

/// The JSON value of every record, as the seed wrote it (with `"api": "rust"`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordValue<'a> {
    event_id: &'a str,
    mode: &'a str,
    send_mode: &'a str,
    api: &'static str,
    ts: String,
}

/// The current UTC time in RFC 3339, as the records' `ts`.
pub fn now_rfc3339() -> Result<String, AppError> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| AppError::internal(format!("cannot format the timestamp: {e}")))
}

fn seed_value(req: &SendRequest) -> Result<Vec<u8>, AppError> {
    let ts = now_rfc3339()?;
    serde_json::to_vec(&RecordValue {
        event_id: &req.event_id,
        mode: req.mode.as_str(),
        send_mode: req.send_mode.as_str(),
        api: "rust",
        ts,
    })
    .map_err(|e| AppError::internal(format!("cannot serialise the record: {e}")))
}

/// A record header: its name and value.
type Header<'a> = (&'a str, &'a [u8]);

/// A record's value and headers, borrowed from the request where it carries them.
pub(super) struct RecordBody<'a> {
    pub value: Cow<'a, [u8]>,
    pub headers: Vec<Header<'a>>,
}

impl<'a> RecordBody<'a> {
    /// The request's own value and headers (else the seed's value), and the key's header.
    pub fn of(req: &'a SendRequest, idempotency_key: Option<&'a str>) -> Result<Self, AppError> {
        let (value, mut headers): (Cow<'a, [u8]>, Vec<Header<'a>>) = match &req.content {
            Some(content) => (
                Cow::Borrowed(&content.value),
                content.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect(),
            ),
            None => (Cow::Owned(seed_value(req)?), Vec::new()),
        };
        headers.extend(idempotency_key.map(|k| (IDEMPOTENCY_KEY_HEADER, k.as_bytes())));
        Ok(Self { value, headers })
    }
}
