//! What a request hyper could not parse is answered: the app's own limits where the start of
//! the request shows which parameter broke them (the same 400 problem, naming the field and its
//! limit, that a shorter request would have got), else the HTTP limit that was hit.

use crate::error::AppError;
use crate::model::{Field, MAX_EVENT_ID_LEN, MAX_KEY_LEN, MAX_TOPIC_LEN};
use crate::server::rest::{problem_body, PROBLEM_CONTENT_TYPE};

/// hyper's limit on a request line's target.
const MAX_TARGET: usize = 65_534;

/// The parameters whose length the app bounds, by their name in a query (any case).
const BOUNDED: [(&str, Field, usize); 4] = [
    ("eventid", Field::EventId, MAX_EVENT_ID_LEN),
    ("key", Field::Key, MAX_KEY_LEN),
    ("topic", Field::Topic, MAX_TOPIC_LEN),
    ("requestid", Field::RequestId, 36),
];

/// The whole HTTP response (head and problem+json body) for hyper's `status`, given the start
/// of the request that was refused.
pub fn answer(status: u16, captured: &[u8]) -> Vec<u8> {
    let error = explain(status, captured);
    let body = problem_body(&error);
    let status = error.status();
    let reason = match status {
        400 => "Bad Request",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_CONTENT_TYPE}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

fn explain(status: u16, captured: &[u8]) -> AppError {
    let line_end = captured.windows(2).position(|w| w == b"\r\n").unwrap_or(captured.len());
    let line = String::from_utf8_lossy(&captured[..line_end]);
    let truncated = line_end == captured.len();
    let target = line.split(' ').nth(1).unwrap_or_default();
    if matches!(status, 414 | 431) {
        if let Some(error) = too_long_parameter(target, truncated) {
            return error;
        }
    }
    match status {
        414 => AppError::Rejected {
            status: 414,
            message: format!("The request target is longer than {MAX_TARGET} bytes; send shorter parameters"),
        },
        431 => AppError::Rejected {
            status: 431,
            message: format!(
                "The request line and headers are larger than the server accepts ({} bytes); send shorter \
                 parameters and headers",
                super::MAX_HEAD_BYTES
            ),
        },
        _ => AppError::Invalid {
            field: None,
            message: "The request is not valid HTTP/1.1 (its request line or a header is malformed)".into(),
        },
    }
}

/// The first bounded parameter of the target's query that is over its limit. The last one may
/// be cut short by the capture: then it has "at least" that many characters.
fn too_long_parameter(target: &str, truncated: bool) -> Option<AppError> {
    let query = target.split_once('?').map(|(_, q)| q)?;
    let pairs: Vec<&str> = query.split('&').collect();
    for (i, pair) in pairs.iter().enumerate() {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some((_, field, limit)) = BOUNDED.iter().find(|(n, _, _)| name.eq_ignore_ascii_case(n)) else {
            continue;
        };
        let decoded = percent_encoding::percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned();
        let chars = decoded.chars().count();
        if chars > *limit {
            let cut = truncated && i == pairs.len() - 1;
            let count = if cut { format!("at least {chars}") } else { chars.to_string() };
            return Some(AppError::invalid(
                *field,
                format!("{field} is too long: {count} characters, at most {limit}"),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_event_id_is_named_with_its_limit() {
        let request = format!("POST /api/v1/send?mode=plain&eventId={} HTTP/1.1\r\nhost: x\r\n", "e".repeat(100_000));
        let answer = String::from_utf8(answer(414, &request.as_bytes()[..80 * 1024])).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
        assert!(answer.contains("application/problem+json"));
        assert!(answer.contains(r#""field":"eventId""#), "{answer}");
        assert!(answer.contains("at most 256"), "{answer}");
    }

    #[test]
    fn without_a_known_parameter_the_http_limit_is_named() {
        let request = format!("GET /?x={} HTTP/1.1\r\n", "a".repeat(70_000));
        let answer = String::from_utf8(answer(414, request.as_bytes())).unwrap();
        assert!(answer.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{answer}");
        assert!(answer.contains("65534"), "{answer}");
    }
}
