//! The live event stream: Server-Sent Events (`GET /api/v1/events`) and a WebSocket
//! (`GET /api/v1/ws`) that also takes shout/whisper/join/leave commands.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{check_group, parse_peer};
use crate::body::decode_frames;
use crate::events::{CloseReason, Filter, Subscription};
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

/// `GET /api/v1/events`: a `ready` event, then one SSE event per node event (`event:` is its
/// type, `id:` its sequence number, `data:` its JSON), and a final `close` event saying why the
/// stream ends.
pub(crate) async fn sse(
    State(app): State<App>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiProblem> {
    let sub = subscribe(&app, q)?;
    let ready = SseEvent::default()
        .event("ready")
        .retry(Duration::from_secs(1))
        .data(ready_json(&app));
    let events = futures_util::stream::unfold(Some(sub), |state| async move {
        let mut sub = state?;
        Some(match sub.next().await {
            Ok(ev) => (
                Ok(SseEvent::default()
                    .event(ev.kind.as_str())
                    .id(ev.seq.to_string())
                    .data(&ev.json)),
                Some(sub),
            ),
            Err(reason) => (
                Ok(SseEvent::default().event("close").data(reason.json())),
                None,
            ),
        })
    });
    let stream = futures_util::stream::once(async move { Ok(ready) }).chain(events);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
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
                    if !send(&mut tx, Message::Text(ev.json.clone().into())).await {
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

/// A command a WebSocket client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Command {
    Shout {
        group: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        frames: Option<Vec<String>>,
        #[serde(default)]
        id: Option<Value>,
    },
    Whisper {
        peer: String,
        #[serde(default)]
        text: Option<String>,
        #[serde(default)]
        frames: Option<Vec<String>>,
        #[serde(default)]
        id: Option<Value>,
    },
    Join {
        group: String,
        #[serde(default)]
        id: Option<Value>,
    },
    Leave {
        group: String,
        #[serde(default)]
        id: Option<Value>,
    },
}

impl Command {
    fn id(&self) -> Option<Value> {
        match self {
            Command::Shout { id, .. }
            | Command::Whisper { id, .. }
            | Command::Join { id, .. }
            | Command::Leave { id, .. } => id.clone(),
        }
    }
}

fn content(
    text: Option<String>,
    frames: Option<Vec<String>>,
) -> Result<Vec<axum::body::Bytes>, ApiProblem> {
    match (text, frames) {
        (Some(t), None) => Ok(vec![t.into()]),
        (None, Some(f)) => decode_frames(&f),
        _ => Err(ApiProblem::bad_request(
            "give either \"text\" or \"frames\" (base64 strings)",
        )),
    }
}

/// Runs one command; the reply is `{"type":"ACK","id":..}` or `{"type":"ERROR","id":..,
/// "problem":{..}}`.
fn command(app: &App, text: &str) -> Value {
    let cmd: Command = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => {
            let p = ApiProblem::bad_request(format!(
                "a command is {{\"op\":\"shout\"|\"whisper\"|\"join\"|\"leave\", ...}}: {e}"
            ));
            return json!({"type": "ERROR", "id": null, "problem": p});
        }
    };
    if app.is_stopping() {
        return json!({"type": "ERROR", "id": cmd.id(), "problem": ApiProblem::stopping()});
    }
    let (id, result) = match cmd {
        Command::Shout {
            group,
            text,
            frames,
            id,
        } => (
            id,
            check_group(&group)
                .and_then(|()| content(text, frames))
                .and_then(|c| app.node.shout(&group, c).map_err(ApiProblem::from)),
        ),
        Command::Whisper {
            peer,
            text,
            frames,
            id,
        } => (
            id,
            parse_peer(&peer).and_then(|p| {
                content(text, frames).and_then(|c| app.node.whisper(p, c).map_err(Into::into))
            }),
        ),
        Command::Join { group, id } => (
            id,
            check_group(&group).and_then(|()| app.node.join(&group).map_err(Into::into)),
        ),
        Command::Leave { group, id } => (
            id,
            check_group(&group).and_then(|()| app.node.leave(&group).map_err(Into::into)),
        ),
    };
    match result {
        Ok(()) => json!({"type": "ACK", "id": id}),
        Err(p) => json!({"type": "ERROR", "id": id, "problem": p}),
    }
}
