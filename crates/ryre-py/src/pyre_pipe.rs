//! The event pipe behind `ryre.pyre`: a thread that takes every event of a node and writes it,
//! as Pyre's frames, to a ZeroMQ PAIR socket that the Python side (pyzmq) reads. No Python and
//! no GIL on this path; pyzmq links its own libzmq, so the two meet over `ipc://` (a socket
//! file in a private directory the Python side creates), not `inproc://`.

use ryre::{Event, Node};

use crate::event::type_of;

/// Pyre's frames for an event, or `None` for the events Pyre 0.3.4 never produces
/// (EVASIVE, SILENT, LEADER).
pub(crate) fn pyre_frames(ev: &Event) -> Option<Vec<Vec<u8>>> {
    let head = |peer: &ryre::PeerId, name: &str| {
        vec![
            type_of(ev).as_bytes().to_vec(),
            peer.as_bytes().to_vec(),
            name.as_bytes().to_vec(),
        ]
    };
    let frames = match ev {
        Event::Enter {
            peer,
            name,
            headers,
            endpoint,
        } => {
            let mut f = head(peer, name);
            f.push(json_object(headers).into_bytes());
            f.push(endpoint.as_bytes().to_vec());
            f
        }
        Event::Join { peer, name, group } | Event::Leave { peer, name, group } => {
            let mut f = head(peer, name);
            f.push(group.as_bytes().to_vec());
            f
        }
        Event::Whisper {
            peer,
            name,
            content,
        } => {
            let mut f = head(peer, name);
            f.extend(content.iter().map(|c| c.to_vec()));
            f
        }
        Event::Shout {
            peer,
            name,
            group,
            content,
        } => {
            let mut f = head(peer, name);
            f.push(group.as_bytes().to_vec());
            f.extend(content.iter().map(|c| c.to_vec()));
            f
        }
        Event::Exit { peer, name, .. } | Event::Stop { peer, name } => head(peer, name),
        Event::Evasive { .. } | Event::Silent { .. } | Event::Leader { .. } => return None,
    };
    Some(frames)
}

/// The headers as Python's `json.dumps(dict)` writes them (what Pyre sends): `{"k": "v"}`,
/// ", " and ": " separators, non-ASCII as `\uXXXX` (UTF-16 surrogate pairs above U+FFFF).
pub(crate) fn json_object(map: &std::collections::BTreeMap<String, String>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_string(&mut out, k);
        out.push_str(": ");
        json_string(&mut out, v);
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Binds a PAIR socket at `endpoint` and starts the thread that feeds it until the node stops
/// (the last frames sent are STOP's).
pub(crate) fn start(node: Node, endpoint: &str) -> Result<(), String> {
    let ctx = zmq::Context::new();
    let sock = ctx
        .socket(zmq::PAIR)
        .map_err(|e| format!("cannot make the event pipe: {e}"))?;
    // Never drop an event: no high-water mark (the node's own queue is unbounded too); on
    // close, give the reader a moment to take STOP.
    sock.set_sndhwm(0)
        .and_then(|_| sock.set_linger(2000))
        .map_err(|e| format!("cannot set up the event pipe: {e}"))?;
    sock.bind(endpoint)
        .map_err(|e| format!("cannot bind the event pipe at {endpoint}: {e}"))?;
    std::thread::Builder::new()
        .name("ryre-pyre-events".into())
        .spawn(move || {
            while let Ok(ev) = node.recv() {
                if let Some(frames) = pyre_frames(&ev) {
                    if sock.send_multipart(frames, 0).is_err() {
                        break;
                    }
                }
            }
            drop(sock);
            drop(ctx);
        })
        .map_err(|e| format!("cannot start the event pipe thread: {e}"))?;
    Ok(())
}
