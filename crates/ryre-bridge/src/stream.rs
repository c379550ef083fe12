//! The live event stream: Server-Sent Events (`GET /api/v1/events`) and a WebSocket
//! (`GET /api/v1/ws`) that also takes shout/whisper/join/leave commands.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::decode::{ws_command, Action};
use crate::events::{sse_frame, CloseReason, Filter, Subscription};
use crate::problem::ApiProblem;
use crate::App;

/// A WebSocket send that takes longer than this drops the client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The query of both streams.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamQuery {
    group: Option<String>,
    #[serde(rename = "type")]
    types: Option<String>,
    #[allow(dead_code)] // read by the auth guard
    access_token: Option<String>,
}

fn subscribe(
    app: &App,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Subscription, ApiProblem> {
    let Query(q) = q.map_err(|e| ApiProblem::bad_request(format!("bad query: {e}")))?;
    let filter = Filter::parse(q.types.as_deref(), q.group.as_deref())?;
    let rx = app.subscribe().ok_or_else(ApiProblem::stopping)?;
    Ok(Subscription {
        rx,
        filter,
        buffer: app.config.client_buffer,
    })
}

fn ready_json(app: &App) -> String {
    json!({
        "type": "READY",
        "uuid": app.node.uuid().to_string(),
        "name": app.node.name(),
    })
    .to_string()
}

/// Time between keep-alive comments on an idle SSE stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/v1/events`: a `ready` event, then one SSE event per node event (`event:` is its
/// type, `id:` its sequence number, `data:` its JSON), and a final `close` event saying why the
/// stream ends. Each event's frame is encoded once for every client.
pub(crate) async fn sse(
    State(app): State<App>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiProblem> {
    let sub = subscribe(&app, q)?;
    let ready = Bytes::from(format!(
        "retry: 1000\n{}",
        String::from_utf8_lossy(&sse_frame("ready", None, &ready_json(&app)))
    ));
    let events = futures_util::stream::unfold(Some(sub), |state| async move {
        let mut sub = state?;
        let item = tokio::select! {
            ev = sub.next() => match ev {
                Ok(ev) => (ev.sse.clone(), Some(sub)),
                Err(reason) => (sse_frame("close", None, &reason.json()), None),
            },
            () = tokio::time::sleep(KEEP_ALIVE) => (Bytes::from_static(b":\n\n"), Some(sub)),
        };
        Some((Ok::<_, Infallible>(item.0), item.1))
    });
    let stream = futures_util::stream::once(async move { Ok(ready) }).chain(events);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/v1/ws`
pub(crate) async fn ws(
    State(app): State<App>,
    q: Result<Query<StreamQuery>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => {
            return ApiProblem::new(e.status(), "not-websocket", "Not a WebSocket request")
                .detail(e.body_text())
                .into_response()
        }
    };
    let sub = match subscribe(&app, q) {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    upgrade
        .max_message_size(app.config.max_body)
        .on_upgrade(move |socket| run_ws(app, sub, socket))
}

fn close_frame(reason: &CloseReason) -> Message {
    let code = match reason {
        CloseReason::Lagged { .. } => 1013, // try again later
        CloseReason::Stopped => 1001,       // going away
    };
    let mut detail = reason.detail();
    // A close reason is at most 123 bytes.
    while detail.len() > 123 {
        detail.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: detail.into(),
    }))
}

/// Sends one message; false when the client is gone or has not taken it within
/// [`SEND_TIMEOUT`].
async fn send(tx: &mut SplitSink<WebSocket, Message>, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn run_ws(app: App, mut sub: Subscription, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    if !send(&mut tx, Message::Text(ready_json(&app).into())).await {
        return;
    }
    loop {
        tokio::select! {
            ev = sub.next() => match ev {
                Ok(ev) => {
                    if !send(&mut tx, Message::Text(ev.json.clone())).await {
                        return;
                    }
                }
                Err(reason) => {
                    let _ = send(&mut tx, Message::Text(reason.json().into())).await;
                    let _ = send(&mut tx, close_frame(&reason)).await;
                    return;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let reply = command(&app, t.as_str()).to_string();
                    if !send(&mut tx, Message::Text(reply.into())).await {
                        return;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let p = ApiProblem::bad_request("commands are JSON text messages");
                    let reply = json!({"type": "ERROR", "problem": p}).to_string();
                    if !send(&mut tx, Message::Text(reply.into())).await {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // ping and pong are answered by the library
            },
        }
    }
}

/// Runs one command; the reply is `{"type":"ACK","id":..}` or `{"type":"ERROR","id":..,
/// "problem":{..}}`.
fn command(app: &App, text: &str) -> Value {
    let cmd = match ws_command(text) {
        Ok(c) => c,
        Err(e) => return json!({"type": "ERROR", "id": e.id, "problem": e.problem}),
    };
    if app.is_stopping() {
        return json!({"type": "ERROR", "id": cmd.id, "problem": ApiProblem::stopping()});
    }
    let result = match cmd.action {
        Action::Shout { group, frames } => crate::blocking(|| app.node.shout(&group, frames)),
        Action::Whisper { peer, frames } => crate::blocking(|| app.node.whisper(peer, frames)),
        Action::Join(group) => app.node.join(&group),
        Action::Leave(group) => app.node.leave(&group),
    };
    match result {
        Ok(()) => json!({"type": "ACK", "id": cmd.id}),
        Err(e) => json!({"type": "ERROR", "id": cmd.id, "problem": ApiProblem::from(e)}),
    }
}
