//! The node's events as the web sees them: JSON objects with a `type`, handed to every SSE and
//! WebSocket client through one bounded broadcast ring, and the `?group=`/`?type=` filter.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use base64::Engine;
use ryre::{Content, Event};
use serde_json::{json, Map, Value};

use crate::problem::ApiProblem;

/// The kinds of events a client can receive (the node's own STOP ends the stream instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A peer said HELLO.
    Enter,
    /// A peer is gone.
    Exit,
    /// A peer joined a group.
    Join,
    /// A peer left a group.
    Leave,
    /// A peer whispered to the bridge's node.
    Whisper,
    /// A peer shouted to a group.
    Shout,
    /// A peer has been silent past the evasive timeout.
    Evasive,
    /// A peer is still silent after being evasive.
    Silent,
    /// An election has a leader.
    Leader,
}

impl EventKind {
    /// Every kind, in the order of the bits of a filter.
    pub const ALL: [EventKind; 9] = [
        EventKind::Enter,
        EventKind::Exit,
        EventKind::Join,
        EventKind::Leave,
        EventKind::Whisper,
        EventKind::Shout,
        EventKind::Evasive,
        EventKind::Silent,
        EventKind::Leader,
    ];

    /// The upper-case name used in JSON, SSE `event:` lines and `?type=`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Enter => "ENTER",
            EventKind::Exit => "EXIT",
            EventKind::Join => "JOIN",
            EventKind::Leave => "LEAVE",
            EventKind::Whisper => "WHISPER",
            EventKind::Shout => "SHOUT",
            EventKind::Evasive => "EVASIVE",
            EventKind::Silent => "SILENT",
            EventKind::Leader => "LEADER",
        }
    }

    /// The kind named `s` (case-insensitive).
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// One event, encoded once and shared by every client: its JSON (a WebSocket text message)
/// and its whole Server-Sent Events frame (cheap to clone: both are reference-counted).
#[derive(Debug)]
pub(crate) struct WireEvent {
    pub kind: EventKind,
    pub group: Option<String>,
    pub json: Utf8Bytes,
    pub sse: Bytes,
}

/// One SSE frame: `event:`, optional `id:`, one `data:` line (JSON has no newlines).
pub(crate) fn sse_frame(event: &str, id: Option<u64>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + event.len() + 32);
    s.push_str("event: ");
    s.push_str(event);
    s.push('\n');
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s.push_str("data: ");
    s.push_str(data);
    s.push_str("\n\n");
    Bytes::from(s)
}

fn frames_json(content: &Content) -> (Value, Option<String>, usize) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let frames: Vec<Value> = content
        .iter()
        .map(|f| Value::String(b64.encode(f)))
        .collect();
    let text = content
        .first()
        .and_then(|f| std::str::from_utf8(f).ok())
        .map(str::to_string);
    let bytes = content.iter().map(|f| f.len()).sum();
    (Value::Array(frames), text, bytes)
}

/// Encodes an event; `None` for the node's own STOP (which ends the streams instead).
pub(crate) fn encode(ev: &Event, seq: u64) -> Option<WireEvent> {
    let mut m = Map::new();
    let (kind, peer, name, group) = match ev {
        Event::Enter {
            peer,
            name,
            headers,
            endpoint,
        } => {
            m.insert("endpoint".into(), json!(endpoint));
            m.insert("headers".into(), json!(headers));
            (EventKind::Enter, peer, name, None)
        }
        Event::Exit { peer, name, reason } => {
            m.insert("reason".into(), json!(reason.as_str()));
            (EventKind::Exit, peer, name, None)
        }
        Event::Join { peer, name, group } => (EventKind::Join, peer, name, Some(group.as_str())),
        Event::Leave { peer, name, group } => (EventKind::Leave, peer, name, Some(group.as_str())),
        Event::Whisper {
            peer,
            name,
            content,
        } => {
            put_content(&mut m, content);
            (EventKind::Whisper, peer, name, None)
        }
        Event::Shout {
            peer,
            name,
            group,
            content,
        } => {
            put_content(&mut m, content);
            (EventKind::Shout, peer, name, Some(&**group))
        }
        Event::Evasive { peer, name } => (EventKind::Evasive, peer, name, None),
        Event::Silent { peer, name } => (EventKind::Silent, peer, name, None),
        Event::Leader { peer, name, group } => {
            (EventKind::Leader, peer, name, Some(group.as_str()))
        }
        Event::Stop { .. } => return None,
    };
    m.insert("type".into(), json!(kind.as_str()));
    m.insert("seq".into(), json!(seq));
    m.insert("peer".into(), json!(peer.to_string()));
    m.insert("name".into(), json!(&**name));
    if let Some(g) = group {
        m.insert("group".into(), json!(g));
    }
    let json = Value::Object(m).to_string();
    Some(WireEvent {
        kind,
        group: group.map(str::to_string),
        sse: sse_frame(kind.as_str(), Some(seq), &json),
        json: json.into(),
    })
}

fn put_content(m: &mut Map<String, Value>, content: &Content) {
    let (frames, text, bytes) = frames_json(content);
    m.insert("frames".into(), frames);
    if let Some(t) = text {
        m.insert("text".into(), Value::String(t));
    }
    m.insert("bytes".into(), json!(bytes));
}

/// Which events a client wants: `?type=SHOUT,JOIN` and `?group=chat`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    types: Option<u16>,
    group: Option<String>,
}

impl Filter {
    /// The filter of a query's `type` (comma-separated kinds) and `group` values.
    pub fn parse(types: Option<&str>, group: Option<&str>) -> Result<Filter, ApiProblem> {
        let types = match types {
            None => None,
            Some(list) => {
                let mut bits = 0u16;
                for t in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    let kind = EventKind::parse(t).ok_or_else(|| {
                        ApiProblem::bad_request(format!(
                            "unknown event type {t:?}; known: {}",
                            EventKind::ALL.map(EventKind::as_str).join(", ")
                        ))
                    })?;
                    bits |= kind.bit();
                }
                if bits == 0 {
                    return Err(ApiProblem::bad_request("?type= names no event type"));
                }
                Some(bits)
            }
        };
        Ok(Filter {
            types,
            group: group.map(str::to_string),
        })
    }

    /// Whether a client with this filter gets `ev`. With a group, only events of that group
    /// (JOIN, LEAVE, SHOUT, LEADER) pass.
    pub fn accepts(&self, ev: &WireEvent) -> bool {
        if let Some(bits) = self.types {
            if bits & ev.kind.bit() == 0 {
                return false;
            }
        }
        match &self.group {
            None => true,
            Some(g) => ev.group.as_deref() == Some(g.as_str()),
        }
    }
}

/// What ends a client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client fell more than its buffer behind.
    Lagged { dropped: u64, buffer: usize },
    /// The node stopped.
    Stopped,
}

impl CloseReason {
    pub fn tag(&self) -> &'static str {
        match self {
            CloseReason::Lagged { .. } => "lagged",
            CloseReason::Stopped => "stopped",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            CloseReason::Lagged { dropped, buffer } => format!(
                "client too slow: {dropped} events dropped (buffer of {buffer} events); reconnect"
            ),
            CloseReason::Stopped => "the node has stopped".to_string(),
        }
    }

    pub fn json(&self) -> String {
        json!({"type": "CLOSE", "reason": self.tag(), "detail": self.detail()}).to_string()
    }
}

/// A client's receiving end: its filter over the shared ring.
pub(crate) struct Subscription {
    pub rx: tokio::sync::broadcast::Receiver<Arc<WireEvent>>,
    pub filter: Filter,
    pub buffer: usize,
}

impl Subscription {
    /// The next event this client wants, or why its stream ends.
    pub async fn next(&mut self) -> Result<Arc<WireEvent>, CloseReason> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.rx.recv().await {
                Ok(ev) if self.filter.accepts(&ev) => return Ok(ev),
                Ok(_) => {}
                Err(RecvError::Lagged(dropped)) => {
                    return Err(CloseReason::Lagged {
                        dropped,
                        buffer: self.buffer,
                    })
                }
                Err(RecvError::Closed) => return Err(CloseReason::Stopped),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ryre::{Bytes, PeerId};

    fn shout(group: &str) -> WireEvent {
        let content: Content = [Bytes::from_static(b"hi"), Bytes::from_static(&[0xff])]
            .into_iter()
            .collect();
        encode(
            &Event::Shout {
                peer: PeerId::from_bytes([1; 16]),
                name: "a".into(),
                group: group.into(),
                content,
            },
            7,
        )
        .expect("a shout is encoded")
    }

    #[test]
    fn shout_json() {
        let ev = shout("chat");
        let v: Value = serde_json::from_str(ev.json.as_str()).expect("json");
        assert_eq!(
            &ev.sse[..],
            format!("event: SHOUT\nid: 7\ndata: {}\n\n", ev.json.as_str()).as_bytes()
        );
        assert_eq!(v["type"], "SHOUT");
        assert_eq!(v["group"], "chat");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["text"], "hi");
        assert_eq!(v["frames"], json!(["aGk=", "/w=="]));
        assert_eq!(v["bytes"], 3);
        assert_eq!(v["peer"], "01".repeat(16));
    }

    #[test]
    fn stop_is_not_an_event() {
        let stop = Event::Stop {
            peer: PeerId::from_bytes([1; 16]),
            name: "a".into(),
        };
        assert!(encode(&stop, 1).is_none());
    }

    #[test]
    fn filters() {
        let ev = shout("chat");
        assert!(Filter::parse(None, None).expect("ok").accepts(&ev));
        assert!(Filter::parse(Some("shout,join"), Some("chat"))
            .expect("ok")
            .accepts(&ev));
        assert!(!Filter::parse(Some("JOIN"), None).expect("ok").accepts(&ev));
        assert!(!Filter::parse(None, Some("other")).expect("ok").accepts(&ev));
        assert!(Filter::parse(Some("DANCE"), None).is_err());
        assert!(Filter::parse(Some(","), None).is_err());
    }
}
