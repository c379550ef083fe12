//! Printing events: one readable line each, or one JSON object per line.

use std::collections::BTreeMap;
use std::io::Write;

use ryre::{Event, Node, PeerId};
use serde_json::{json, Map, Value};

/// Every event name, in the order summaries list them.
pub const EVENT_NAMES: [&str; 10] = [
    "ENTER", "EXIT", "JOIN", "LEAVE", "WHISPER", "SHOUT", "EVASIVE", "SILENT", "LEADER", "STOP",
];

/// The upper-case name of an event, as Zyre spells it.
pub fn event_name(ev: &Event) -> &'static str {
    match ev {
        Event::Enter { .. } => "ENTER",
        Event::Exit { .. } => "EXIT",
        Event::Join { .. } => "JOIN",
        Event::Leave { .. } => "LEAVE",
        Event::Whisper { .. } => "WHISPER",
        Event::Shout { .. } => "SHOUT",
        Event::Evasive { .. } => "EVASIVE",
        Event::Silent { .. } => "SILENT",
        Event::Leader { .. } => "LEADER",
        Event::Stop { .. } => "STOP",
    }
}

/// The peer an event is about (ourselves for STOP).
pub fn event_peer(ev: &Event) -> PeerId {
    match ev {
        Event::Enter { peer, .. }
        | Event::Exit { peer, .. }
        | Event::Join { peer, .. }
        | Event::Leave { peer, .. }
        | Event::Whisper { peer, .. }
        | Event::Shout { peer, .. }
        | Event::Evasive { peer, .. }
        | Event::Silent { peer, .. }
        | Event::Leader { peer, .. }
        | Event::Stop { peer, .. } => *peer,
    }
}

/// The name of the peer an event is about.
pub fn event_peer_name(ev: &Event) -> &str {
    match ev {
        Event::Enter { name, .. }
        | Event::Exit { name, .. }
        | Event::Join { name, .. }
        | Event::Leave { name, .. }
        | Event::Whisper { name, .. }
        | Event::Shout { name, .. }
        | Event::Evasive { name, .. }
        | Event::Silent { name, .. }
        | Event::Leader { name, .. }
        | Event::Stop { name, .. } => name,
    }
}

/// The first content frame of a SHOUT or WHISPER as text (lossy UTF-8), if the event has content.
pub fn first_frame(ev: &Event) -> Option<String> {
    match ev {
        Event::Whisper { content, .. } | Event::Shout { content, .. } => Some(
            content
                .first()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_default(),
        ),
        _ => None,
    }
}

/// An event as a JSON object: `event`, `peer`, `name`, and where they apply `group`, `content`,
/// `frames`, `headers`, `endpoint`, `reason`.
pub fn event_json(ev: &Event) -> Value {
    let mut m = Map::new();
    m.insert("event".into(), event_name(ev).into());
    m.insert("peer".into(), event_peer(ev).to_string().into());
    m.insert("name".into(), event_peer_name(ev).into());
    match ev {
        Event::Enter {
            headers, endpoint, ..
        } => {
            m.insert("headers".into(), json!(headers));
            m.insert("endpoint".into(), endpoint.as_str().into());
        }
        Event::Exit { reason, .. } => {
            m.insert("reason".into(), reason.as_str().into());
        }
        Event::Join { group, .. } | Event::Leave { group, .. } | Event::Leader { group, .. } => {
            m.insert("group".into(), group.as_str().into());
        }
        Event::Shout { group, content, .. } => {
            m.insert("group".into(), (&**group).into());
            m.insert("content".into(), first_frame(ev).unwrap_or_default().into());
            m.insert("frames".into(), content.len().into());
        }
        Event::Whisper { content, .. } => {
            m.insert("content".into(), first_frame(ev).unwrap_or_default().into());
            m.insert("frames".into(), content.len().into());
        }
        Event::Evasive { .. } | Event::Silent { .. } | Event::Stop { .. } => {}
    }
    Value::Object(m)
}

/// A short, readable form of a peer: the first 6 hex digits and the name, e.g. `3F2A1B…(bob)`.
pub fn short_peer(peer: PeerId, name: &str) -> String {
    let hex = peer.to_string();
    format!("{}…({name})", &hex[..6])
}

/// An event as one readable line, e.g. `ENTER   3F2A1B…(bob) tcp://127.0.0.1:49152`.
pub fn event_human(ev: &Event) -> String {
    let who = short_peer(event_peer(ev), event_peer_name(ev));
    let tag = event_name(ev);
    let extra = match ev {
        Event::Enter {
            peer,
            headers,
            endpoint,
            ..
        } => {
            let mut s = format!("{endpoint} id={peer}");
            if !headers.is_empty() {
                let h: Vec<String> = headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!(" headers: {}", h.join(" ")));
            }
            s
        }
        Event::Exit { reason, .. } => format!("({})", reason.as_str()),
        Event::Join { group, .. } | Event::Leave { group, .. } => group.clone(),
        Event::Leader { group, .. } => format!("leads {group}"),
        Event::Shout { group, content, .. } => {
            format!("{group}: {}{}", quoted(ev), more_frames(content.len()))
        }
        Event::Whisper { content, .. } => format!("{}{}", quoted(ev), more_frames(content.len())),
        Event::Evasive { .. } | Event::Silent { .. } | Event::Stop { .. } => String::new(),
    };
    format!("{tag:<7} {who} {extra}").trim_end().to_string()
}

fn quoted(ev: &Event) -> String {
    format!("{:?}", first_frame(ev).unwrap_or_default())
}

fn more_frames(n: usize) -> String {
    if n > 1 {
        format!(" (+{} frames)", n - 1)
    } else {
        String::new()
    }
}

/// Writes whole lines to stdout, flushing each; a closed stdout is ignored rather than fatal.
pub fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// How many events of each kind were seen.
#[derive(Debug, Default, Clone)]
pub struct Counts(BTreeMap<&'static str, u64>);

impl Counts {
    /// Counts one event.
    pub fn add(&mut self, ev: &Event) {
        *self.0.entry(event_name(ev)).or_default() += 1;
    }

    /// How many of this kind.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// All kinds, zeros included, as a JSON object.
    pub fn json(&self) -> Value {
        let m: Map<String, Value> = EVENT_NAMES
            .iter()
            .map(|n| (n.to_string(), self.get(n).into()))
            .collect();
        Value::Object(m)
    }

    /// The kinds seen, e.g. `ENTER=2 JOIN=2 SHOUT=10`, or `no events`.
    pub fn human(&self) -> String {
        let parts: Vec<String> = EVENT_NAMES
            .iter()
            .filter(|n| self.get(n) > 0)
            .map(|n| format!("{n}={}", self.get(n)))
            .collect();
        if parts.is_empty() {
            "no events".into()
        } else {
            parts.join(" ")
        }
    }
}

/// Prints events and summaries in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// One JSON object per line instead of readable text.
    pub json: bool,
}

impl Printer {
    /// Where the metrics are served.
    pub fn metrics(&self, addr: std::net::SocketAddr) {
        if self.json {
            print_line(
                &json!({"event": "METRICS", "url": format!("http://{addr}/metrics")}).to_string(),
            );
        } else {
            print_line(&format!("METRICS http://{addr}/metrics"));
        }
    }

    /// The first line: who we are.
    pub fn started(&self, node: &Node) {
        if self.json {
            let mut v = json!({
                "event": "STARTED",
                "peer": node.uuid().to_string(),
                "name": node.name(),
                "endpoint": node.endpoint(),
            });
            if let Some(g) = node.gossip_endpoint() {
                v["gossip"] = json!(g);
            }
            if let Some(k) = node.public_key() {
                v["public_key"] = json!(k.to_z85());
            }
            if let Some(i6) = node.interface6() {
                v["ipv6"] = json!(i6.addr.to_string());
            }
            print_line(&v.to_string());
        } else {
            let gossip = node
                .gossip_endpoint()
                .map(|g| format!(" gossip={g}"))
                .unwrap_or_default();
            print_line(&format!(
                "STARTED {} id={} {} on {}{gossip}",
                node.name(),
                node.uuid(),
                node.endpoint(),
                node.interface().name
            ));
        }
    }

    /// One event.
    pub fn event(&self, ev: &Event) {
        if self.json {
            print_line(&event_json(ev).to_string());
        } else {
            print_line(&event_human(ev));
        }
    }

    /// What secure mode has refused (a `SECURITY` line).
    pub fn security(&self, node: &Node) {
        let s = node.security_stats();
        let mode = node.security_mode().as_str();
        let certs: serde_json::Map<String, serde_json::Value> = s
            .certificate_refusals()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        if self.json {
            print_line(
                &json!({"event": "SECURITY", "mode": mode, "refused": s.refused,
                        "refused_connections": s.refused_connections,
                        "certificates_refused": certs})
                .to_string(),
            );
        } else {
            let certs: Vec<String> = s
                .certificate_refusals()
                .map(|(k, n)| format!("{k}:{n}"))
                .collect();
            print_line(&format!(
                "SECURITY mode={mode} refused={} refused_connections={} certificates_refused=[{}]",
                s.refused,
                s.refused_connections,
                certs.join(",")
            ));
        }
    }

    /// What the node's gossip hub holds (sessions, tuple keys) and the gossip sessions of the
    /// machine's agent when this node hosts it (`gossip` on stdin).
    pub fn gossip(&self, node: &Node) {
        let hub = node.gossip_hub();
        let agent = node.agent_gossip();
        if self.json {
            let hub = hub.map(|h| {
                json!({"sessions": h.sessions,
                       "tuples": h.tuples.iter().map(|(k, v)| json!({"key": k, "value": v}))
                           .collect::<Vec<_>>()})
            });
            let agent: Vec<_> = agent
                .iter()
                .map(|(h, n)| json!({"hub": h, "nodes": n}))
                .collect();
            print_line(&json!({"event": "GOSSIP", "hub": hub, "agent": agent}).to_string());
        } else {
            let hub = hub.map_or_else(
                || "no".to_string(),
                |h| format!("sessions={} tuples={}", h.sessions, h.tuples.len()),
            );
            let agent: Vec<String> = agent.iter().map(|(h, n)| format!("{h}:{n}")).collect();
            print_line(&format!("GOSSIP hub={hub} agent=[{}]", agent.join(",")));
        }
    }

    /// The closing line with the event counts.
    pub fn summary(&self, counts: &Counts) {
        if self.json {
            print_line(&json!({"event": "SUMMARY", "counts": counts.json()}).to_string());
        } else {
            print_line(&format!("SUMMARY {}", counts.human()));
        }
    }

    /// A problem that does not stop the node (bad stdin command, unknown peer...): on stderr.
    pub fn warn(&self, msg: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "ryre: {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ryre::Bytes;
    use std::sync::Arc;

    fn id() -> PeerId {
        PeerId::from_bytes([0x3f; 16])
    }

    #[test]
    fn shout_json_has_every_key() {
        let ev = Event::Shout {
            peer: id(),
            name: Arc::from("bob"),
            group: "g".into(),
            content: [Bytes::from_static(b"hi"), Bytes::from_static(b"\xff")]
                .into_iter()
                .collect(),
        };
        let v = event_json(&ev);
        assert_eq!(v["event"], "SHOUT");
        assert_eq!(v["peer"], "3F".repeat(16));
        assert_eq!(v["name"], "bob");
        assert_eq!(v["group"], "g");
        assert_eq!(v["content"], "hi");
        assert_eq!(v["frames"], 2);
        assert!(event_human(&ev).starts_with("SHOUT   3F3F3F…(bob) g: \"hi\""));
    }

    #[test]
    fn empty_whisper_and_counts() {
        let ev = Event::Whisper {
            peer: id(),
            name: Arc::from("x"),
            content: ryre::Content::new(),
        };
        assert_eq!(event_json(&ev)["content"], "");
        let mut c = Counts::default();
        c.add(&ev);
        c.add(&ev);
        assert_eq!(c.json()["WHISPER"], 2);
        assert_eq!(c.json()["ENTER"], 0);
        assert_eq!(c.human(), "WHISPER=2");
    }
}
