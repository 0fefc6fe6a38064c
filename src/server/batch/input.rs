//! A batch's records as they arrive: one JSON body (`{"mode", "sendMode", "topic", "records":
//! [...]}`) or NDJSON streamed line by line (one record per line, the batch's parameters in the
//! query string), never buffered whole. Each record is parsed on its own: one that does not
//! parse is that record's error, not the batch's.

use crate::error::AppError;
use crate::model::{Field, RecordContent, RecordError, SendParams, SendRequest};
use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// One record of a batch, as the caller wrote it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordInput {
    event_id: Option<String>,
    key: Option<String>,
    /// A number (or a numeric string): checked as the send's `partition` is.
    partition: Option<Value>,
    value: Option<Box<RawValue>>,
    headers: Option<BTreeMap<String, String>>,
}

/// A record parsed, or why it could not be.
pub type ParsedRecord = Result<RecordInput, RecordError>;

pub fn parse_record(raw: &[u8]) -> ParsedRecord {
    serde_json::from_slice(raw).map_err(|e| RecordError {
        status: 400,
        field: None,
        message: format!("The record is not {{\"eventId\", \"key\"?, \"partition\"?, \"value\"?, \"headers\"?}}: {e}"),
    })
}

impl RecordInput {
    /// A record with only its event id: the seed's value, the event id as key.
    pub fn event(event_id: String) -> Self {
        Self { event_id: Some(event_id), key: None, partition: None, value: None, headers: None }
    }

    /// The send it asks for, under the batch's `mode`, `sendMode` and `topic`.
    pub fn into_request(self, batch: &SendParams, default_topic: &str) -> Result<SendRequest, RecordError> {
        let invalid = |field, message: String| RecordError { status: 400, field: Some(field), message };
        let partition = self.partition.map(|p| match p {
            Value::String(s) => s,
            other => other.to_string(),
        });
        let params = SendParams { event_id: self.event_id, key: self.key, partition, ..batch.clone() };
        let mut req = params.validate(default_topic).map_err(|e| invalid(e.field, e.message))?;
        req.content = match (self.value, self.headers) {
            (Some(value), headers) => {
                Some(RecordContent { value: value.get().as_bytes().to_vec(), headers: headers.unwrap_or_default() })
            }
            (None, Some(_)) => {
                return Err(invalid(Field::Headers, "headers need a value: give the record's value too".into()))
            }
            (None, None) => None,
        };
        Ok(req)
    }
}

/// The JSON batch body: its parameters and each record's raw JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonBatch<'a> {
    mode: Option<String>,
    send_mode: Option<String>,
    topic: Option<String>,
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

impl<'a> JsonBatch<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, AppError> {
        serde_json::from_slice(body).map_err(|e| {
            AppError::invalid(
                Field::Records,
                format!("The batch must be {{\"mode\", \"sendMode\"?, \"topic\"?, \"records\": [...]}}: {e}"),
            )
        })
    }

    pub fn params(&self) -> SendParams {
        SendParams {
            mode: self.mode.clone(),
            send_mode: self.send_mode.clone(),
            topic: self.topic.clone(),
            ..SendParams::default()
        }
    }

    pub fn records(&self) -> &[&'a RawValue] {
        &self.records
    }
}

/// NDJSON records from a body stream, one per line (blank lines skipped), each at most
/// `max_line` bytes. A read error or an over-long line ends the stream with the batch's error.
pub fn ndjson_records<S, E>(body: S, max_line: usize) -> impl Stream<Item = Result<ParsedRecord, AppError>>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    futures::stream::unfold((body, BytesMut::new(), false), move |(mut body, mut buf, mut ended)| async move {
        loop {
            if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line = buf.split_to(end + 1);
                let line = line.strip_suffix(b"\n").unwrap_or(&line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some((Ok(parse_record(line)), (body, buf, ended)));
            }
            if buf.len() > max_line {
                let error = AppError::Rejected {
                    status: 413,
                    message: format!(
                        "An NDJSON line is longer than {max_line} bytes (a record's largest value and its envelope)"
                    ),
                };
                buf.advance(buf.len());
                return Some((Err(error), (body, buf, true)));
            }
            if ended {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let last = buf.split();
                return Some((Ok(parse_record(&last)), (body, buf, ended)));
            }
            match body.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    let error = AppError::Invalid { field: None, message: format!("The body could not be read: {e}") };
                    return Some((Err(error), (body, buf, true)));
                }
                None => ended = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ndjson_lines_split_across_chunks_are_records_and_bad_lines_are_their_own_errors() {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
            Ok(bytes::Bytes::from_static(b"{\"eventId\":\"a\",\"value\":{\"x\":1}}\n{\"eventId\":")),
            Ok(bytes::Bytes::from_static(b"\"b\"}\r\n\nnot json\n{\"eventId\":\"c\"}")),
        ];
        let records: Vec<_> = ndjson_records(futures::stream::iter(chunks), 1024).collect().await;
        assert_eq!(records.len(), 4);
        let ok = |i: usize| records[i].as_ref().ok().and_then(|r| r.as_ref().ok()).and_then(|r| r.event_id.clone());
        assert_eq!((ok(0), ok(1), ok(3)), (Some("a".into()), Some("b".into()), Some("c".into())));
        assert!(matches!(records[2], Ok(Err(_))), "a bad line is that record's error");
    }

    #[tokio::test]
    async fn an_over_long_line_ends_the_batch_with_413() {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![Ok(bytes::Bytes::from(vec![b'x'; 100]))];
        let records: Vec<_> = ndjson_records(futures::stream::iter(chunks), 10).collect().await;
        assert!(matches!(&records[0], Err(AppError::Rejected { status: 413, .. })), "{records:?}");
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_record_becomes_the_send_it_asks_for_or_names_its_field() {
        let batch = SendParams { mode: Some("plain".into()), ..SendParams::default() };
        let input = parse_record(br#"{"eventId":"e1","partition":2,"value":[1, 2],"headers":{"h":"v"}}"#).unwrap();
        let req = input.into_request(&batch, "t").unwrap();
        assert_eq!((req.event_id.as_str(), req.partition, req.topic.as_str()), ("e1", Some(2), "t"));
        let content = req.content.unwrap();
        assert_eq!(content.value, b"[1, 2]", "the value byte for byte");
        assert_eq!(content.headers.get("h").map(String::as_str), Some("v"));
        let err = parse_record(br#"{"partition":-1,"eventId":"e"}"#).unwrap().into_request(&batch, "t").unwrap_err();
        assert_eq!(err.field, Some(Field::Partition));
        let err = parse_record(br#"{"key":"k"}"#).unwrap().into_request(&batch, "t").unwrap_err();
        assert_eq!(err.field, Some(Field::EventId));
    }
}
