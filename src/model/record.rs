//! The caller's own record: its value bytes and headers, in place of the seed's synthetic value,
//! with the limits every door applies, and what a status tells of it.

use super::request::{Field, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// librdkafka's default `message.max.bytes`: the largest value accepted unless the producer's
/// own setting (in `KAFKA_PROPERTIES`) says otherwise.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1_000_000;
/// At most this many headers per record.
pub const MAX_HEADERS: usize = 64;
/// Longest header name, in bytes.
pub const MAX_HEADER_NAME: usize = 256;
/// Longest header value, in bytes.
pub const MAX_HEADER_VALUE: usize = 8 * 1024;

/// A record's value and headers as the caller gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContent {
    pub value: Vec<u8>,
    /// Name to text, sorted by name.
    pub headers: BTreeMap<String, String>,
}

/// What a status says of a record the caller gave: its value's size and its headers.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSummary {
    pub value_bytes: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl RecordContent {
    pub fn summary(&self) -> RecordSummary {
        RecordSummary { value_bytes: self.value.len() as u64, headers: self.headers.clone() }
    }

    /// The value's size against `max_value_bytes`; the headers' count, names and sizes.
    pub fn validate(&self, max_value_bytes: usize) -> Result<(), ValidationError> {
        if self.value.len() > max_value_bytes {
            return Err(ValidationError::new(
                Field::Value,
                format!(
                    "The record value is {} bytes; at most {max_value_bytes} (the producer's message.max.bytes)",
                    self.value.len()
                ),
            ));
        }
        validate_headers(&self.headers)
    }
}

/// Header names non-empty, printable and at most [`MAX_HEADER_NAME`] bytes; values at most
/// [`MAX_HEADER_VALUE`]; at most [`MAX_HEADERS`] of them.
pub fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    let invalid = |why: String| Err(ValidationError::new(Field::Headers, why));
    if headers.len() > MAX_HEADERS {
        return invalid(format!("{} headers; at most {MAX_HEADERS}", headers.len()));
    }
    for (name, value) in headers {
        if name.is_empty() || name.len() > MAX_HEADER_NAME || name.chars().any(char::is_control) {
            return invalid(format!(
                "header name '{}' must be 1 to {MAX_HEADER_NAME} bytes without control characters",
                name.escape_debug()
            ));
        }
        if value.len() > MAX_HEADER_VALUE {
            return invalid(format!("header '{name}' is {} bytes; at most {MAX_HEADER_VALUE}", value.len()));
        }
    }
    Ok(())
}

/// The send form's value (JSON, as typed) and headers (one `name: value` per line) as a record;
/// `None` when both are blank (the seed's value). The browser runs the same check as the server.
pub fn parse_record_text(value: &str, headers: &str) -> Result<Option<RecordContent>, ValidationError> {
    let mut parsed = BTreeMap::new();
    for line in headers.lines().filter(|l| !l.trim().is_empty()) {
        let Some((name, text)) = line.split_once(':') else {
            return Err(ValidationError::new(
                Field::Headers,
                format!("header line '{}' is not 'name: value'", line.escape_debug()),
            ));
        };
        parsed.insert(name.trim().to_owned(), text.trim().to_owned());
    }
    let value = value.trim();
    if value.is_empty() {
        if parsed.is_empty() {
            return Ok(None);
        }
        return Err(ValidationError::new(Field::Headers, "headers need a value: type the record's value too"));
    }
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(value) {
        return Err(ValidationError::new(Field::Value, format!("the value is not JSON: {e}")));
    }
    let content = RecordContent { value: value.as_bytes().to_vec(), headers: parsed };
    content.validate(DEFAULT_MAX_VALUE_BYTES)?;
    Ok(Some(content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(value: &[u8], headers: &[(&str, &str)]) -> RecordContent {
        let headers = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        RecordContent { value: value.to_vec(), headers }
    }

    #[test]
    fn a_value_over_the_limit_names_the_limit() {
        let err = content(&[b'x'; 11], &[]).validate(10).unwrap_err();
        assert_eq!(err.field, Field::Value);
        assert!(err.message.contains("11 bytes; at most 10"), "{}", err.message);
        assert!(content(&[b'x'; 10], &[]).validate(10).is_ok());
    }

    #[test]
    fn the_forms_text_becomes_a_record_or_names_what_to_fix() {
        assert_eq!(parse_record_text(" ", "\n"), Ok(None));
        let c = parse_record_text(r#" {"a": 1} "#, "trace: t-1\nsource : billing").unwrap().unwrap();
        assert_eq!(c.value, br#"{"a": 1}"#);
        assert_eq!(c.headers.get("source").map(String::as_str), Some("billing"));
        assert_eq!(parse_record_text("{oops", "").unwrap_err().field, Field::Value);
        assert_eq!(parse_record_text("1", "no colon").unwrap_err().field, Field::Headers);
        assert_eq!(parse_record_text("", "a: b").unwrap_err().field, Field::Headers);
    }

    #[test]
    fn headers_are_bounded_and_named() {
        assert_eq!(content(b"", &[("", "v")]).validate(10).unwrap_err().field, Field::Headers);
        assert_eq!(content(b"", &[("a\nb", "v")]).validate(10).unwrap_err().field, Field::Headers);
        let big = "v".repeat(MAX_HEADER_VALUE + 1);
        assert!(content(b"", &[("trace", &big)]).validate(10).unwrap_err().message.contains("'trace'"));
        let many: Vec<(String, String)> = (0..=MAX_HEADERS).map(|i| (format!("h{i}"), String::new())).collect();
        let many = RecordContent { value: Vec::new(), headers: many.into_iter().collect() };
        assert_eq!(many.validate(10).unwrap_err().field, Field::Headers);
        assert_eq!(content(b"{}", &[("a", "1"), ("b", "2")]).summary().value_bytes, 2);
    }
}
