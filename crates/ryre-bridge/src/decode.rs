//! Decoders of what clients send: message bodies, WebSocket commands, stream filters. They never
//! panic on any input (property tests here, and the fuzz target `client_inputs` in
//! `crates/ryre-bridge/fuzz`); every rejection is a 400 [`ApiProblem`].

use std::borrow::Cow;

use axum::body::Bytes;
use ryre::PeerId;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{check_group, parse_peer};
use crate::body::{decode_frames, frames_from_body};
use crate::events::Filter;
use crate::logs::{parse_n, LogFilter};
use crate::problem::ApiProblem;

/// The frames of a POSTed message: an `application/json` body must be
/// `{"frames": ["<base64>", ...]}` (at least one); any other content type is one frame as it is.
///
/// ```
/// use ryre_bridge::decode::message_frames;
/// let f = message_frames(Some("application/json"), r#"{"frames":["aGk="]}"#.into())?;
/// assert_eq!(&f[0][..], b"hi");
/// assert_eq!(message_frames(Some("text/plain"), "hi".into())?.len(), 1);
/// assert_eq!(message_frames(Some("application/json"), "hi".into()).unwrap_err().status, 400);
/// # Ok::<(), ryre_bridge::ApiProblem>(())
/// ```
pub fn message_frames(content_type: Option<&str>, body: Bytes) -> Result<Vec<Bytes>, ApiProblem> {
    frames_from_body(content_type, body)
}

/// Checks a stream filter: `types` is a comma-separated list of event types (`SHOUT,JOIN`).
///
/// ```
/// use ryre_bridge::decode::event_filter;
/// assert!(event_filter(Some("shout,JOIN"), Some("chat")).is_ok());
/// assert_eq!(event_filter(Some("DANCE"), None).unwrap_err().status, 400);
/// ```
pub fn event_filter(types: Option<&str>, group: Option<&str>) -> Result<(), ApiProblem> {
    Filter::parse(types, group).map(|_| ())
}

/// Checks the query values of the log routes: `n` (1 to [`crate::MAX_LOG_RECORDS`]), `level`
/// (error, warn, info, debug or trace) and `node` (a 32-hex id or a name, 1 to 255 bytes).
///
/// ```
/// use ryre_bridge::decode::log_query;
/// assert!(log_query(Some("50"), Some("warn"), Some("web")).is_ok());
/// assert_eq!(log_query(Some("0"), None, None).unwrap_err().status, 400);
/// assert_eq!(log_query(None, Some("loud"), None).unwrap_err().status, 400);
/// ```
pub fn log_query(
    n: Option<&str>,
    level: Option<&str>,
    node: Option<&str>,
) -> Result<(), ApiProblem> {
    parse_n(n)?;
    LogFilter::parse(level, node).map(|_| ())
}

/// What a WebSocket command asks, checked (group names fit ZRE, peer ids parse, frames decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Shout frames to a group.
    Shout {
        /// The group.
        group: String,
        /// The content frames.
        frames: Vec<Bytes>,
    },
    /// Whisper frames to a peer.
    Whisper {
        /// The peer.
        peer: PeerId,
        /// The content frames.
        frames: Vec<Bytes>,
    },
    /// Join a group.
    Join(String),
    /// Leave a group.
    Leave(String),
}

/// A decoded WebSocket command: the action and the client's `id`, echoed in the reply.
#[derive(Debug, Clone, PartialEq)]
pub struct WsCommand {
    /// The client's correlation id (any JSON value), if it gave one.
    pub id: Option<Value>,
    /// What to do.
    pub action: Action,
}

/// A command that cannot be run, and its `id` when that much could be read (boxed in results:
/// it is large next to a command).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// The client's correlation id, if the command was JSON with one.
    pub id: Option<Value>,
    /// Why (always 400).
    pub problem: ApiProblem,
}

/// The JSON form of a command. Strings are borrowed from the message where they need no
/// unescaping (the fast reading's `text` then becomes a slice of the message, no copy).
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Raw<'a> {
    Shout {
        #[serde(borrow)]
        group: Cow<'a, str>,
        #[serde(default, borrow)]
        text: Option<Cow<'a, str>>,
        #[serde(default)]
        frames: Option<Vec<String>>,
        #[serde(default)]
        id: Option<Value>,
    },
    Whisper {
        #[serde(borrow)]
        peer: Cow<'a, str>,
        #[serde(default, borrow)]
        text: Option<Cow<'a, str>>,
        #[serde(default)]
        frames: Option<Vec<String>>,
        #[serde(default)]
        id: Option<Value>,
    },
    Join {
        #[serde(borrow)]
        group: Cow<'a, str>,
        #[serde(default)]
        id: Option<Value>,
    },
    Leave {
        #[serde(borrow)]
        group: Cow<'a, str>,
        #[serde(default)]
        id: Option<Value>,
    },
}

/// Where a command's text came from: the frame's bytes, when `text` is a string of them.
type Source<'s> = Option<&'s Bytes>;

/// `part` as bytes: a slice of `whole` (no copy) when `part` lies inside it, else a copy.
fn bytes_of(whole: Source<'_>, part: &str) -> Bytes {
    if let Some(w) = whole {
        let (start, end) = (w.as_ptr() as usize, w.as_ptr() as usize + w.len());
        let p = part.as_ptr() as usize;
        if !part.is_empty() && p >= start && p + part.len() <= end {
            return w.slice(p - start..p - start + part.len());
        }
    }
    Bytes::copy_from_slice(part.as_bytes())
}

fn content(
    source: Source<'_>,
    text: Option<Cow<'_, str>>,
    frames: Option<Vec<String>>,
) -> Result<Vec<Bytes>, ApiProblem> {
    match (text, frames) {
        (Some(Cow::Borrowed(t)), None) => Ok(vec![bytes_of(source, t)]),
        (Some(Cow::Owned(t)), None) => Ok(vec![t.into()]),
        (None, Some(f)) => decode_frames(&f),
        _ => Err(ApiProblem::bad_request(
            "give either \"text\" or \"frames\" (base64 strings)",
        )),
    }
}

/// Decodes one WebSocket text message: `{"op":"shout","group":G,"text":T}` (or `"frames":
/// [base64...]` instead of `text`), `{"op":"whisper","peer":HEX,...}`, `{"op":"join","group":G}`,
/// `{"op":"leave","group":G}`; each may carry an `"id"`.
///
/// ```
/// use ryre_bridge::decode::{ws_command, Action};
/// let c = ws_command(r#"{"op":"join","group":"chat","id":7}"#).unwrap();
/// assert_eq!(c.action, Action::Join("chat".into()));
/// assert_eq!(c.id, Some(7.into()));
/// assert_eq!(ws_command(r#"{"op":"dance"}"#).unwrap_err().problem.status, 400);
/// ```
pub fn ws_command(text: &str) -> Result<WsCommand, Box<CommandError>> {
    read_command(text, None)
}

/// [`ws_command`] of a text message that is `frame`'s bytes: the content of a `text` without
/// escapes becomes a slice of `frame`, not a copy.
pub(crate) fn ws_command_in(text: &str, frame: &Bytes) -> Result<WsCommand, Box<CommandError>> {
    read_command(text, Some(frame))
}

/// One command from `text`, whose bytes are `source`'s when that is given.
fn read_command(text: &str, source: Source<'_>) -> Result<WsCommand, Box<CommandError>> {
    // The usual, well-formed command is read in one pass into a flat struct; anything else
    // (an unknown op, a field the op does not take, bad JSON) goes the way of the tagged enum,
    // which has the precise error messages. Both accept exactly the same commands.
    let raw = match fast_command(text) {
        Some(raw) => raw,
        None => tagged_command(text)?,
    };
    check_command(raw, source)
}

/// Whether a text message is a batch of commands (a JSON array) rather than one command.
pub(crate) fn is_batch(text: &str) -> bool {
    text.bytes()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| b == b'[')
}

/// Decodes a batch: a WebSocket text message holding a JSON array of commands, each as
/// [`ws_command`] takes them; one result per element, in order. `Err` when the message is not
/// a JSON array at all (then there is one error, for the whole message).
///
/// ```
/// use ryre_bridge::decode::{ws_batch, Action};
/// let b = ws_batch(r#"[{"op":"join","group":"chat"},{"op":"dance","id":2}]"#).unwrap();
/// assert_eq!(b[0].as_ref().unwrap().action, Action::Join("chat".into()));
/// assert_eq!(b[1].as_ref().unwrap_err().id, Some(2.into()));
/// assert_eq!(ws_batch("[1,").unwrap_err().problem.status, 400);
/// ```
#[allow(clippy::type_complexity)]
pub fn ws_batch(
    text: &str,
) -> Result<Vec<Result<WsCommand, Box<CommandError>>>, Box<CommandError>> {
    read_batch(text, None)
}

/// [`ws_batch`] of a text message that is `frame`'s bytes, as [`ws_command_in`].
#[allow(clippy::type_complexity)]
pub(crate) fn ws_batch_in(
    text: &str,
    frame: &Bytes,
) -> Result<Vec<Result<WsCommand, Box<CommandError>>>, Box<CommandError>> {
    read_batch(text, Some(frame))
}

#[allow(clippy::type_complexity)]
fn read_batch(
    text: &str,
    source: Source<'_>,
) -> Result<Vec<Result<WsCommand, Box<CommandError>>>, Box<CommandError>> {
    // Fast: every element a well-formed command, read in one pass.
    if let Ok(flats) = serde_json::from_str::<Vec<Flat<'_>>>(text) {
        if let Some(raws) = flats.into_iter().map(flat_raw).collect::<Option<Vec<_>>>() {
            return Ok(raws.into_iter().map(|r| check_command(r, source)).collect());
        }
    }
    // Otherwise each element on its own, exactly as it was written (so it reads, and fails,
    // as it would alone; positions in an error are within the element).
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
        Box::new(CommandError {
            id: None,
            problem: ApiProblem::bad_request(format!("a batch is a JSON array of commands: {e}")),
        })
    })?;
    Ok(items
        .iter()
        .map(|v| read_command(v.get(), source))
        .collect())
}

/// The operations, for the flat reading.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Shout,
    Whisper,
    Join,
    Leave,
}

/// Every field any command has: one pass, no buffering of the object (the tagged enum buffers
/// it to find `op` first).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Flat<'a> {
    op: Op,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    group: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    peer: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    frames: Option<Vec<String>>,
    #[serde(default)]
    id: Option<Value>,
}

/// An optional string, borrowed from the input when it needs no unescaping (serde borrows a
/// `Cow<str>` only where it is the field's whole type, not inside an `Option`).
fn borrowed<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Str<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Str<'a>>::deserialize(d)?.map(|Str(s)| s))
}

/// The command read flat, when it is well-formed JSON with only the fields its op takes and
/// the ones it needs; `None` sends it to [`tagged_command`].
fn fast_command(text: &str) -> Option<Raw<'_>> {
    flat_raw(serde_json::from_str(text).ok()?)
}

/// A flat reading as the command it is, when its fields fit its op.
fn flat_raw(f: Flat<'_>) -> Option<Raw<'_>> {
    Some(match f.op {
        Op::Shout if f.peer.is_none() => Raw::Shout {
            group: f.group?,
            text: f.text,
            frames: f.frames,
            id: f.id,
        },
        Op::Whisper if f.group.is_none() => Raw::Whisper {
            peer: f.peer?,
            text: f.text,
            frames: f.frames,
            id: f.id,
        },
        Op::Join if f.peer.is_none() && f.text.is_none() && f.frames.is_none() => Raw::Join {
            group: f.group?,
            id: f.id,
        },
        Op::Leave if f.peer.is_none() && f.text.is_none() && f.frames.is_none() => Raw::Leave {
            group: f.group?,
            id: f.id,
        },
        _ => return None,
    })
}

/// The command read as the tagged enum (with its error messages).
fn tagged_command(text: &str) -> Result<Raw<'_>, Box<CommandError>> {
    serde_json::from_str(text).map_err(|e| {
        Box::new(CommandError {
            id: serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id").cloned()),
            problem: ApiProblem::bad_request(format!(
                "a command is {{\"op\":\"shout\"|\"whisper\"|\"join\"|\"leave\", ...}}: {e}"
            )),
        })
    })
}

/// Checks a read command (group names, peer ids, frames); `source` as for [`content`].
fn check_command(raw: Raw<'_>, source: Source<'_>) -> Result<WsCommand, Box<CommandError>> {
    let (id, action) = match raw {
        Raw::Shout {
            group,
            text,
            frames,
            id,
        } => {
            let action = check_group(&group)
                .and_then(|()| content(source, text, frames))
                .map(|frames| Action::Shout {
                    group: group.into_owned(),
                    frames,
                });
            (id, action)
        }
        Raw::Whisper {
            peer,
            text,
            frames,
            id,
        } => {
            let action = parse_peer(&peer).and_then(|peer| {
                content(source, text, frames).map(|frames| Action::Whisper { peer, frames })
            });
            (id, action)
        }
        Raw::Join { group, id } => (
            id,
            check_group(&group).map(|()| Action::Join(group.into_owned())),
        ),
        Raw::Leave { group, id } => (
            id,
            check_group(&group).map(|()| Action::Leave(group.into_owned())),
        ),
    };
    match action {
        Ok(action) => Ok(WsCommand { id, action }),
        Err(problem) => Err(Box::new(CommandError { id, problem })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_and_tagged_readings_agree(
            op in 0usize..5,
            group in proptest::option::of("[a-z]{0,4}"),
            peer in proptest::option::of("[0-9a-f]{32}"),
            text in proptest::option::of(".{0,8}"),
            frames in proptest::option::of(prop::collection::vec("[A-Za-z0-9+/=]{0,8}", 0..3)),
            id in proptest::option::of(any::<i64>()),
            extra in any::<bool>(),
        ) {
            let mut m = serde_json::Map::new();
            m.insert("op".into(), ["shout", "whisper", "join", "leave", "dance"][op].into());
            if let Some(g) = group { m.insert("group".into(), g.into()); }
            if let Some(p) = peer { m.insert("peer".into(), p.into()); }
            if let Some(t) = text { m.insert("text".into(), t.into()); }
            if let Some(f) = frames { m.insert("frames".into(), f.into()); }
            if let Some(i) = id { m.insert("id".into(), i.into()); }
            if extra { m.insert("extra".into(), 1.into()); }
            let text = Value::Object(m).to_string();
            if let Some(fast) = fast_command(&text) {
                let tagged = tagged_command(&text);
                prop_assert!(tagged.is_ok(), "the tagged reading refuses {}", text);
                prop_assert_eq!(format!("{fast:?}"), format!("{:?}", tagged.unwrap()));
            }
            let slow = tagged_command(&text).and_then(|r| check_command(r, None));
            prop_assert_eq!(format!("{:?}", ws_command(&text)), format!("{slow:?}"));
            // The zero-copy reading of a frame gives the same command.
            let frame = Bytes::from(text.clone());
            let frame_str = std::str::from_utf8(&frame).expect("utf-8");
            prop_assert_eq!(format!("{:?}", ws_command_in(frame_str, &frame)), format!("{slow:?}"));
            // In a batch, each element reads as it would alone (ids and errors included).
            let batch = format!("[{text},{text}]");
            let got = ws_batch(&batch).expect("an array");
            prop_assert_eq!(got.len(), 2);
            for g in &got {
                prop_assert_eq!(format!("{g:?}"), format!("{slow:?}"));
            }
            // Next to a command that is not one, each still reads as it would alone.
            let mixed = format!("[{text}, {{\"op\":\"dance\"}}]");
            let got = ws_batch(&mixed).expect("an array");
            prop_assert_eq!(format!("{:?}", got[0]), format!("{slow:?}"));
            prop_assert!(got[1].is_err());
        }

        #[test]
        fn a_plain_text_is_a_slice_of_the_frame(text in "[a-z ]{1,16}", escaped in any::<bool>()) {
            let cmd = if escaped {
                format!(r#"{{"op":"shout","group":"g","text":"\n{text}"}}"#)
            } else {
                format!(r#"{{"op":"shout","group":"g","text":"{text}"}}"#)
            };
            let frame = Bytes::from(cmd);
            let s = std::str::from_utf8(&frame).expect("utf-8");
            let Action::Shout { frames, .. } = ws_command_in(s, &frame).expect("a command").action
            else {
                panic!("not a shout")
            };
            let inside = frame.as_ptr_range().contains(&frames[0].as_ptr());
            prop_assert_eq!(inside, !escaped, "{:?}", frames);
            let want = if escaped { format!("\n{text}") } else { text };
            prop_assert_eq!(&frames[0][..], want.as_bytes());
        }

        #[test]
        fn frames_round_trip(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6)) {
            let b64 = base64::engine::general_purpose::STANDARD;
            let body = serde_json::json!({"frames": frames.iter().map(|f| b64.encode(f)).collect::<Vec<_>>()});
            let got = message_frames(Some("application/json"), body.to_string().into()).expect("decodes");
            prop_assert_eq!(got.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), frames);
        }

        #[test]
        fn any_body_is_frames_or_400(body in prop::collection::vec(any::<u8>(), 0..256), json in any::<bool>()) {
            let ct = if json { Some("application/json") } else { Some("application/octet-stream") };
            match message_frames(ct, body.clone().into()) {
                Ok(f) => prop_assert!(!f.is_empty()),
                Err(p) => { prop_assert!(json); prop_assert_eq!(p.status, 400); }
            }
        }

        #[test]
        fn any_command_text_is_a_command_or_400(text in ".{0,200}") {
            if let Err(e) = ws_command(&text) {
                prop_assert_eq!(e.problem.status, 400);
            }
        }

        #[test]
        fn commands_round_trip(group in "[a-z]{1,20}", text in ".{0,50}", id in any::<i64>()) {
            let cmd = serde_json::json!({"op": "shout", "group": group, "text": text, "id": id});
            let c = ws_command(&cmd.to_string()).expect("decodes");
            prop_assert_eq!(c.id, Some(Value::from(id)));
            prop_assert_eq!(c.action, Action::Shout { group, frames: vec![Bytes::from(text)] });
        }

        #[test]
        fn any_log_query_is_ok_or_400(n in ".{0,12}", level in ".{0,12}", node in ".{0,300}") {
            if let Err(p) = log_query(Some(&n), Some(&level), Some(&node)) {
                prop_assert_eq!(p.status, 400);
            }
        }

        #[test]
        fn good_log_queries_pass(n in 1usize..=100_000, level in 0usize..5, node in "[a-zA-Z0-9-]{1,40}") {
            let l = ["error", "WARN", "Info", "debug", "trace"][level];
            prop_assert!(log_query(Some(&n.to_string()), Some(l), Some(&node)).is_ok());
        }

        #[test]
        fn any_filter_is_ok_or_400(types in ".{0,40}", group in ".{0,40}") {
            if let Err(p) = event_filter(Some(&types), Some(&group)) {
                prop_assert_eq!(p.status, 400);
            }
        }
    }
}
