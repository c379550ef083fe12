//! The live event stream: Server-Sent Events (`GET /api/v1/events`) and a WebSocket
//! (`GET /api/v1/ws`) that also takes shout/whisper/join/leave commands.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::decode::{is_batch, ws_batch_in, ws_command_in, Action, CommandError, WsCommand};
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
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

/// Queues one message without flushing (the socket writes once its buffer is full); false as
/// for [`send`]. When the socket takes it at once (the usual case), no timer is set.
async fn feed(socket: &mut WebSocket, msg: Message) -> bool {
    match futures_util::future::poll_fn(|cx| socket.poll_ready_unpin(cx)).now_or_never() {
        Some(Ok(())) => socket.start_send_unpin(msg).is_ok(),
        Some(Err(_)) => false,
        None => matches!(
            tokio::time::timeout(SEND_TIMEOUT, socket.feed(msg)).await,
            Ok(Ok(()))
        ),
    }
}

/// Writes out what [`feed`] queued; false as for [`send`].
async fn flush(socket: &mut WebSocket) -> bool {
    match futures_util::future::poll_fn(|cx| socket.poll_flush_unpin(cx)).now_or_never() {
        Some(r) => r.is_ok(),
        None => matches!(
            tokio::time::timeout(SEND_TIMEOUT, socket.flush()).await,
            Ok(Ok(()))
        ),
    }
}

/// Commands taken in one batch before the replies are flushed and the event ring is looked at
/// again.
const COMMAND_BATCH: usize = 256;

/// One message from the client, read.
enum Input {
    /// A text message: a command (or why it is not one).
    Command(Result<WsCommand, Box<CommandError>>),
    /// A text message holding a JSON array: the commands (or why it is not one).
    #[allow(clippy::type_complexity)]
    Batch(Result<Vec<Result<WsCommand, Box<CommandError>>>, Box<CommandError>>),
    /// A binary message (refused).
    Binary,
}

impl Input {
    /// How many commands this is, for [`COMMAND_BATCH`].
    fn weight(&self) -> usize {
        match self {
            Input::Batch(Ok(b)) => b.len().max(1),
            _ => 1,
        }
    }
}

/// Reads one message from the client; `None` when it ends the session (close, error, gone),
/// `Some(None)` for what needs no answer (ping, pong: the library answers).
fn read_input(msg: Option<Result<Message, axum::Error>>) -> Option<Option<Input>> {
    match msg {
        Some(Ok(Message::Text(t))) => {
            // The frame's bytes (a reference, not a copy): a shout's text becomes a slice.
            let frame = Bytes::from(t.clone());
            let text = t.as_str();
            Some(Some(if is_batch(text) {
                Input::Batch(ws_batch_in(text, &frame))
            } else {
                Input::Command(ws_command_in(text, &frame))
            }))
        }
        Some(Ok(Message::Binary(_))) => Some(Some(Input::Binary)),
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => None,
        Some(Ok(_)) => Some(None),
    }
}

/// The reply to one input.
fn answer(app: &App, input: Input) -> Utf8Bytes {
    match input {
        Input::Command(c) => command(app, c),
        Input::Batch(Ok(cmds)) => {
            // One text message: the replies in the commands' order, as a JSON array.
            let mut out = String::with_capacity(2 + cmds.len() * 25);
            out.push('[');
            for (i, c) in cmds.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(command(app, c).as_str());
            }
            out.push(']');
            out.into()
        }
        Input::Batch(Err(e)) => error_reply(e.id, &e.problem),
        Input::Binary => {
            let p = ApiProblem::bad_request("commands are JSON text messages");
            json!({"type": "ERROR", "problem": p}).to_string().into()
        }
    }
}

async fn run_ws(app: App, mut sub: Subscription, mut socket: WebSocket) {
    if !send(&mut socket, Message::Text(ready_json(&app).into())).await {
        return;
    }
    let mut inputs: Vec<Input> = Vec::new();
    loop {
        tokio::select! {
            ev = sub.next() => match ev {
                Ok(ev) => {
                    if !send(&mut socket, Message::Text(ev.json.clone())).await {
                        return;
                    }
                }
                Err(reason) => {
                    let _ = send(&mut socket, Message::Text(reason.json().into())).await;
                    let _ = send(&mut socket, close_frame(&reason)).await;
                    return;
                }
            },
            msg = socket.recv() => {
                // This message and those already waiting behind it (a pipelining client's),
                // up to a batch: read them all, then run the commands one after the other, in
                // order (the node's sends go out back to back), then write the replies in one
                // go.
                let mut open = true;
                let mut msg = Some(msg);
                let mut taken = 0;
                while let Some(m) = msg.take() {
                    match read_input(m) {
                        Some(Some(input)) => {
                            taken += input.weight();
                            inputs.push(input);
                        }
                        Some(None) => {}
                        None => {
                            open = false;
                            break;
                        }
                    }
                    if taken < COMMAND_BATCH {
                        msg = socket.recv().now_or_never();
                    }
                }
                for input in inputs.drain(..) {
                    let reply = answer(&app, input);
                    if !feed(&mut socket, Message::Text(reply)).await {
                        return;
                    }
                }
                if !flush(&mut socket).await || !open {
                    return;
                }
            },
        }
    }
}

/// Runs one command; the reply is `{"type":"ACK","id":..}` or `{"type":"ERROR","id":..,
/// "problem":{..}}`.
fn command(app: &App, cmd: Result<WsCommand, Box<CommandError>>) -> Utf8Bytes {
    let cmd = match cmd {
        Ok(c) => c,
        Err(e) => return error_reply(e.id, &e.problem),
    };
    if app.is_stopping() {
        return error_reply(cmd.id, &ApiProblem::stopping());
    }
    let result = match cmd.action {
        Action::Shout { group, frames } => crate::shout(&app.node, &group, frames),
        Action::Whisper { peer, frames } => crate::whisper(&app.node, peer, frames),
        Action::Join(group) => app.node.join(&group),
        Action::Leave(group) => app.node.leave(&group),
    };
    match result {
        Ok(()) => ack(cmd.id.as_ref()),
        Err(e) => error_reply(cmd.id, &ApiProblem::from(e)),
    }
}

/// `{"type":"ACK","id":..}`, written directly (no JSON tree; no allocation without an id).
fn ack(id: Option<&Value>) -> Utf8Bytes {
    match id {
        None => Utf8Bytes::from_static(r#"{"type":"ACK","id":null}"#),
        Some(id) => format!(r#"{{"type":"ACK","id":{id}}}"#).into(),
    }
}

fn error_reply(id: Option<Value>, problem: &ApiProblem) -> Utf8Bytes {
    json!({"type": "ERROR", "id": id, "problem": problem})
        .to_string()
        .into()
}
