//! Who may produce, and where: the optional bearer token (`API_TOKEN`, compared in constant
//! time) and the optional topic allow-list (`ALLOWED_TOPICS`, with `*` globs).
//!
//! The token is checked in one place for both doors: [`guard_api`] is a layer over the whole
//! router that guards every path under `/api/` (REST and server functions alike), so a route
//! added later is guarded without anyone remembering to.

use super::config::{Config, Secret};
use crate::error::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
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
        match bearer(headers) {
            Some(token) if bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) => Ok(()),
            Some(_) => Err(AppError::Unauthorized { message: "The bearer token is not valid".into() }),
            None => Err(AppError::Unauthorized {
                message: "This service requires 'Authorization: Bearer <API_TOKEN>'".into(),
            }),
        }
    }

    /// Whose idempotency keys a request's are: a hash of its bearer token when `API_TOKEN` is
    /// set (the guard already checked it), else the one anonymous scope.
    pub fn key_scope(&self, headers: &HeaderMap) -> String {
        crate::server::idempotency::scope(self.token.as_ref().and(bearer(headers)))
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

/// The token of `Authorization: Bearer <token>`, if the request carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Whether a path is behind the token: everything under `/api/` (health checks, metrics and the
/// pages stay open for probes and browsers).
pub fn is_guarded(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The layer's verdict on a request, kept in its extensions: a page rendered on the server
/// calls the server functions in process, without a request of their own, and they read it
/// (through `ui_api`'s one way to the state) instead of checking the token themselves.
#[derive(Debug, Clone)]
pub struct AccessVerdict(pub Result<(), AppError>);

/// The layer: 401 for a guarded path without the right bearer token, in the shape of the door
/// it was meant for (problem+json for REST, the typed error for a server function). Any other
/// path (a page) goes on, with the verdict for what it renders.
pub async fn guard_api(State(access): State<Arc<AccessPolicy>>, mut request: Request, next: Next) -> Response {
    let verdict = access.check_token(request.headers());
    let path = request.uri().path();
    if let (Err(refused), true) = (&verdict, is_guarded(path)) {
        return if crate::server::rest::is_rest_path(path) {
            refused.clone().into_response()
        } else {
            crate::server::ui_api::error_response(refused.clone())
        };
    }
    request.extensions_mut().insert(AccessVerdict(verdict));
    next.run(request).await
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
