//! The REST handlers: the node, peers and groups as JSON; shout, whisper, join and leave.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ryre::{PeerId, PeerInfo};
use serde_json::{json, Value};

use crate::body::frames_from_body;
use crate::problem::ApiProblem;
use crate::App;

/// One path parameter; a segment axum cannot decode is a 400 problem.
pub(crate) struct Seg(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Seg {
    type Rejection = ApiProblem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(s)| Seg(s))
            .map_err(|e| ApiProblem::bad_request(format!("bad path parameter: {e}")))
    }
}

/// A handler's result: JSON or a problem.
pub(crate) type ApiResult<T> = Result<T, ApiProblem>;

/// A peer id from a path segment; 400 when it is not 32 hex digits.
pub(crate) fn parse_peer(s: &str) -> ApiResult<PeerId> {
    s.parse::<PeerId>().map_err(|e| {
        ApiProblem::bad_request(format!("{s:?} is not a peer id (32 hex digits): {e}"))
    })
}

/// A group name from a path segment; 400 when ZRE cannot carry it.
pub(crate) fn check_group(g: &str) -> ApiResult<()> {
    if g.is_empty() || g.len() > 255 {
        return Err(ApiProblem::bad_request(format!(
            "a group name is 1 to 255 bytes; this one is {}",
            g.len()
        )));
    }
    Ok(())
}

/// A peer as JSON.
pub(crate) fn peer_json(p: &PeerInfo) -> Value {
    json!({
        "uuid": p.id.to_string(),
        "name": &*p.name,
        "endpoint": p.endpoint,
        "groups": p.groups.iter().collect::<Vec<_>>(),
        "headers": p.headers,
        "state": p.state.as_str(),
    })
}

fn peer_infos(app: &App) -> Vec<PeerInfo> {
    app.node
        .peers()
        .iter()
        .filter_map(|id| app.node.peer_info(id))
        .collect()
}

/// `GET /api/v1/node`
pub(crate) async fn node(State(app): State<App>) -> Json<Value> {
    let n = &app.node;
    Json(json!({
        "uuid": n.uuid().to_string(),
        "name": n.name(),
        "endpoint": n.endpoint(),
        "groups": n.own_groups(),
        "peers": n.peers().len(),
        "events": app.seq.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// `GET /api/v1/peers`
pub(crate) async fn peers(State(app): State<App>) -> Json<Value> {
    let list: Vec<Value> = peer_infos(&app).iter().map(peer_json).collect();
    Json(json!({ "peers": list }))
}

/// `GET /api/v1/peers/{uuid}`
pub(crate) async fn peer(State(app): State<App>, Seg(id): Seg) -> ApiResult<Json<Value>> {
    let peer = parse_peer(&id)?;
    let info = app
        .node
        .peer_info(&peer)
        .filter(|p| p.ready)
        .ok_or_else(|| ApiProblem::unknown_peer(&peer.to_string()))?;
    Ok(Json(peer_json(&info)))
}

/// `GET /api/v1/groups`: every group a peer or this node is in, with its members.
pub(crate) async fn groups(State(app): State<App>) -> Json<Value> {
    let own = app.node.own_groups();
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for g in &own {
        groups.entry(g.clone()).or_default().push(json!({
            "uuid": app.node.uuid().to_string(),
            "name": app.node.name(),
            "self": true,
        }));
    }
    for p in peer_infos(&app) {
        for g in &p.groups {
            groups.entry(g.to_string()).or_default().push(json!({
                "uuid": p.id.to_string(),
                "name": &*p.name,
                "self": false,
            }));
        }
    }
    let list: Vec<Value> = groups
        .into_iter()
        .map(|(name, members)| {
            let joined = own.contains(&name);
            json!({ "name": name, "joined": joined, "members": members })
        })
        .collect();
    Json(json!({ "groups": list }))
}

/// The body of a POST, or 413/400.
fn body(app: &App, body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiProblem::too_large(app.config.max_body)
        } else {
            ApiProblem::bad_request(format!("cannot read the body: {r}"))
        }
    })
}

/// The request's `Content-Type`, if it has a readable one (only that header is copied, not the
/// whole header map).
pub(crate) struct ContentType(Option<axum::http::HeaderValue>);

impl ContentType {
    fn as_str(&self) -> Option<&str> {
        self.0.as_ref().and_then(|v| v.to_str().ok())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ContentType {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ContentType(
            parts.headers.get(header::CONTENT_TYPE).cloned(),
        ))
    }
}

/// `POST /api/v1/groups/{group}/messages`: shout.
pub(crate) async fn shout(
    State(app): State<App>,
    Seg(group): Seg,
    ct: ContentType,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    check_group(&group)?;
    let frames = frames_from_body(ct.as_str(), body(&app, raw)?)?;
    crate::shout(&app.node, &group, frames)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/peers/{uuid}/messages`: whisper.
pub(crate) async fn whisper(
    State(app): State<App>,
    Seg(id): Seg,
    ct: ContentType,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let peer = parse_peer(&id)?;
    let frames = frames_from_body(ct.as_str(), body(&app, raw)?)?;
    crate::whisper(&app.node, peer, frames)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/groups/{group}`: join.
pub(crate) async fn join(State(app): State<App>, Seg(group): Seg) -> ApiResult<StatusCode> {
    check_group(&group)?;
    app.node.join(&group)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/groups/{group}`: leave.
pub(crate) async fn leave(State(app): State<App>, Seg(group): Seg) -> ApiResult<StatusCode> {
    check_group(&group)?;
    app.node.leave(&group)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Any path no route serves.
pub(crate) async fn no_route() -> Response {
    ApiProblem::new(StatusCode::NOT_FOUND, "no-route", "Not found")
        .detail("no route serves this path; see /api/v1/openapi.json")
        .into_response()
}

/// A known path with a method it does not serve.
pub(crate) async fn method_not_allowed() -> Response {
    ApiProblem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .detail("this path does not serve this method; see /api/v1/openapi.json")
    .into_response()
}
