//! A strict query-string reader: the seed's parameters, matched case-insensitively as ASP.NET
//! did, but refusing what the seed let through silently (invalid UTF-8, a parameter given twice).

use crate::error::AppError;
use crate::model::SendParams;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use percent_encoding::percent_decode;

pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: &str) -> Result<Self, AppError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let name = decode(name, None)?;
            let value = decode(value, Some(&name))?;
            if let Some((first, _)) = pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(AppError::Invalid {
                    field: None,
                    message: format!("Parameter '{first}' is given more than once; give it once"),
                });
            }
            pairs.push((name, value));
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }

    pub fn send_params(&self) -> SendParams {
        SendParams {
            mode: self.get("mode"),
            event_id: self.get("eventId"),
            topic: self.get("topic"),
            send_mode: self.get("sendMode"),
            key: self.get("key"),
            partition: self.get("partition"),
        }
    }
}

fn decode(raw: &str, name: Option<&str>) -> Result<String, AppError> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|_| AppError::Invalid {
        field: None,
        message: match name {
            Some(n) => format!("The value of parameter '{n}' is not valid UTF-8; percent-encode UTF-8 text"),
            None => "A parameter name is not valid UTF-8; percent-encode UTF-8 text".to_owned(),
        },
    })
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        QueryParams::parse(parts.uri.query().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus_and_matches_names_case_insensitively() {
        let q = QueryParams::parse("MODE=plain&eventid=a%22b%5C+%F0%9F%9A%80&key=").unwrap();
        let p = q.send_params();
        assert_eq!(p.mode.as_deref(), Some("plain"));
        assert_eq!(p.event_id.as_deref(), Some("a\"b\\ 🚀"));
        assert_eq!(p.key.as_deref(), Some(""));
        assert_eq!(p.topic, None);
    }

    #[test]
    fn refuses_duplicates_and_invalid_utf8() {
        let dup = QueryParams::parse("mode=plain&Mode=idempotent").err().unwrap();
        assert!(dup.to_string().contains("more than once"), "{dup}");
        let bad = QueryParams::parse("eventId=%FF%FE").err().unwrap();
        assert!(bad.to_string().contains("eventId"), "{bad}");
    }
}
