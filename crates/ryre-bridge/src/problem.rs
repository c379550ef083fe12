//! Errors as RFC 9457 "problem details" (`application/problem+json`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem: an HTTP status, a stable type URI, a title and what went wrong this time.
///
/// ```
/// use axum::http::StatusCode;
/// use ryre_bridge::ApiProblem;
///
/// let p = ApiProblem::new(StatusCode::NOT_FOUND, "unknown-peer", "Unknown peer")
///     .detail("no peer 00 here");
/// assert_eq!(p.status, 404);
/// assert_eq!(p.kind, "urn:ryre:problem:unknown-peer");
/// ```
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiProblem {
    /// A URI naming the kind of problem (`urn:ryre:problem:<slug>`, or `about:blank`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ApiProblem {
    /// A problem of kind `slug` (an empty slug means `about:blank`).
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        let kind = if slug.is_empty() {
            "about:blank".to_string()
        } else {
            format!("urn:ryre:problem:{slug}")
        };
        ApiProblem {
            kind,
            title: title.to_string(),
            status: status.as_u16(),
            detail: None,
        }
    }

    /// Adds the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400: the request body or a parameter makes no sense.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    /// 404: no such peer.
    pub fn unknown_peer(peer: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown-peer", "Unknown peer")
            .detail(format!("no peer {peer} is known to this node"))
    }

    /// 413: the body is over the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Body too large")
            .detail(format!("the body is over the limit of {limit} bytes"))
    }

    /// 503: the node is stopping (or has stopped).
    pub fn stopping() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "The node is stopping",
        )
        .detail("the bridge's node is stopping; no request is served any more")
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            .detail("a valid bearer token is needed (Authorization: Bearer <token>)")
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiProblem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if unauthorized {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<ryre::Error> for ApiProblem {
    fn from(e: ryre::Error) -> Self {
        match &e {
            ryre::Error::UnknownPeer(p) => ApiProblem::unknown_peer(&p.to_string()),
            ryre::Error::Stopped => ApiProblem::stopping(),
            ryre::Error::TooLong { .. } | ryre::Error::Nul { .. } => {
                ApiProblem::bad_request(e.to_string())
            }
            // Backpressure: a peer's send queue stayed full; nothing was sent, try again.
            ryre::Error::WouldBlock { .. } => ApiProblem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "peer-busy",
                "A peer's send queue is full",
            )
            .detail(e.to_string()),
            _ => ApiProblem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "node-error",
                "The node refused the command",
            )
            .detail(e.to_string()),
        }
    }
}
