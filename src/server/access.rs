//! Who may produce, and where: the optional bearer token (`API_TOKEN`, compared in constant
//! time) and the optional topic allow-list (`ALLOWED_TOPICS`, with `*` globs).

use super::config::{Config, Secret};
use crate::error::AppError;
use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq;
use wildmatch::WildMatch;

pub struct AccessPolicy {
    token: Option<Secret>,
    allowed_topics: Option<Vec<WildMatch>>,
}

impl AccessPolicy {
    pub fn new(config: &Config) -> Self {
        Self {
            token: config.api_token.clone(),
            allowed_topics: config
                .allowed_topic_patterns()
                .map(|patterns| patterns.iter().map(|p| WildMatch::new(p)).collect()),
        }
    }

    /// Open unless a token is configured.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// 401 unless the request carries `Authorization: Bearer <API_TOKEN>`.
    pub fn check_token(&self, headers: &HeaderMap) -> Result<(), AppError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        match given {
            Some(token) if bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) => Ok(()),
            Some(_) => Err(AppError::Unauthorized { message: "The bearer token is not valid".into() }),
            None => Err(AppError::Unauthorized {
                message: "This service requires 'Authorization: Bearer <API_TOKEN>'".into(),
            }),
        }
    }

    /// 403 for a topic outside `ALLOWED_TOPICS` (when it is set).
    pub fn check_topic(&self, topic: &str) -> Result<(), AppError> {
        match &self.allowed_topics {
            Some(patterns) if !patterns.iter().any(|p| p.matches(topic)) => {
                Err(AppError::Forbidden { message: format!("Topic '{topic}' is not in ALLOWED_TOPICS") })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn policy(args: &[&str]) -> AccessPolicy {
        let config = Config::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap();
        AccessPolicy::new(&config)
    }

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn token_is_required_only_when_configured() {
        assert!(policy(&[]).check_token(&HeaderMap::new()).is_ok());
        let p = policy(&["--api-token", "t0ken"]);
        assert_eq!(p.check_token(&HeaderMap::new()).unwrap_err().status(), 401);
        assert_eq!(p.check_token(&bearer("Bearer nope")).unwrap_err().status(), 401);
        assert!(p.check_token(&bearer("Bearer t0ken")).is_ok());
        let err = p.check_token(&bearer("Bearer t0ke")).unwrap_err().to_string();
        assert!(!err.contains("t0ken"), "never echo the secret: {err}");
    }

    #[test]
    fn topics_follow_the_allow_list_globs() {
        let p = policy(&["--allowed-topics", "orders-*,bhf-transactions"]);
        assert!(p.check_topic("orders-eu").is_ok());
        assert!(p.check_topic("bhf-transactions").is_ok());
        assert_eq!(p.check_topic("payments").unwrap_err().status(), 403);
        assert!(policy(&[]).check_topic("anything").is_ok());
    }
}
