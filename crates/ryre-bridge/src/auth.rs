//! The API's gate: 503 while the node stops, 401 without the configured bearer token.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::problem::ApiProblem;
use crate::App;

/// Whether `given` is the token, in time that depends only on the lengths.
pub(crate) fn token_matches(expected: &str, given: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The token a request carries: `Authorization: Bearer <t>`, else `?access_token=<t>`.
fn presented(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    #[derive(serde::Deserialize)]
    struct Q {
        access_token: Option<String>,
    }
    axum::extract::Query::<Q>::try_from_uri(req.uri())
        .ok()
        .and_then(|q| q.0.access_token)
}

/// Middleware on every `/api/v1` route.
pub(crate) async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.is_stopping() {
        return ApiProblem::stopping().into_response();
    }
    if let Some(expected) = &app.config.token {
        let ok = presented(&req).is_some_and(|t| token_matches(expected, &t));
        if !ok {
            return ApiProblem::unauthorized().into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare() {
        assert!(token_matches("secret", "secret"));
        assert!(!token_matches("secret", "secreT"));
        assert!(!token_matches("secret", "secre"));
        assert!(!token_matches("secret", ""));
    }
}
