//! Drives a NodeState with inputs derived from the bytes: frames from a fixed fake peer (after a
//! valid HELLO), raw frames, wrong sequences, commands, beacons and the passing of time. Checks
//! that nothing panics and that what the node sends keeps the wire rules.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ryre_proto::msg::{Hello, Message};
use ryre_proto::{Command, Config, Content, Event, Input, NodeState, PeerId, Transmit};

const GROUPS: [&str; 3] = ["g", "h", ""];

struct Bytes8<'a>(&'a [u8]);

impl Bytes8<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }
}

struct Checker {
    me: PeerId,
    /// Last sequence sent on each open link (None: connected, nothing sent yet).
    links: HashMap<PeerId, Option<u16>>,
    entered: HashMap<PeerId, ()>,
}

impl Checker {
    fn drain(&mut self, node: &mut NodeState) {
        while let Some(t) = node.poll_transmit() {
            match t {
                Transmit::Connect { peer, .. } => {
                    assert!(self.links.insert(peer, None).is_none(), "connect twice");
                }
                Transmit::Disconnect { peer } => {
                    assert!(self.links.remove(&peer).is_some(), "disconnect unknown");
                }
                Transmit::Send { peer, frames } => {
                    let env = Message::decode(&frames.to_vec()).expect("own message decodes");
                    let link = self.links.get_mut(&peer).expect("send on open link");
                    match *link {
                        None => {
                            assert_eq!(env.sequence, 1);
                            assert!(matches!(env.message, Message::Hello(_)));
                        }
                        Some(last) => assert_eq!(env.sequence, last.wrapping_add(1)),
                    }
                    *link = Some(env.sequence);
                }
            }
        }
        while let Some(e) = node.poll_event() {
            match e {
                Event::Enter { peer, .. } => {
                    assert!(self.entered.insert(peer, ()).is_none(), "enter twice");
                }
                Event::Exit { peer, .. } => {
                    assert!(self.entered.remove(&peer).is_some(), "exit without enter");
                }
                Event::Stop { .. } => self.entered.clear(),
                Event::Leader { peer, .. } if peer == self.me => {}
                Event::Join { peer, .. }
                | Event::Leave { peer, .. }
                | Event::Whisper { peer, .. }
                | Event::Shout { peer, .. }
                | Event::Evasive { peer, .. }
                | Event::Silent { peer, .. }
                | Event::Leader { peer, .. } => {
                    assert!(self.entered.contains_key(&peer), "event for unknown peer");
                }
            }
        }
    }
}

fn message(kind: u8, group: &str, status: u8, content: Vec<u8>) -> Message {
    let group = group.to_string();
    match kind % 10 {
        0 => Message::Whisper {
            content: std::iter::once(Bytes::from(content)).collect(),
        },
        1 => Message::Shout {
            group,
            content: std::iter::once(Bytes::from(content)).collect(),
        },
        2 => Message::Join { group, status },
        3 => Message::Leave { group, status },
        4 => Message::Ping,
        5 => Message::PingOk,
        6 => Message::Elect {
            group,
            challenger: "0202020202020202020202020202020202".into(),
        },
        7 => Message::Leader {
            group,
            leader: "01010101010101010101010101010101".into(),
        },
        8 => Message::Goodbye,
        _ => Message::Hello(Hello {
            endpoint: "tcp://127.0.0.1:2".into(),
            groups: vec![group],
            status,
            name: "fake".into(),
            headers: Default::default(),
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let me = PeerId::from_bytes([1; 16]);
    let fake = PeerId::from_bytes([2; 16]);
    let other = PeerId::from_bytes([3; 16]);
    let routing = Bytes::copy_from_slice(&fake.routing_id());
    let mut config = Config::new(me, "me", "tcp://127.0.0.1:1");
    config.evasive = Duration::from_millis(100);
    config.expired = Duration::from_millis(500);
    let mut node = NodeState::new(config);
    let mut check = Checker {
        me,
        links: HashMap::new(),
        entered: HashMap::new(),
    };
    let base = Instant::now();
    let mut now = base;
    let mut seq: u16 = 1;
    let hello = message(9, "g", 0, Vec::new()).encode(1).unwrap();
    let _ = node.handle(
        now,
        Input::Inbox {
            routing_id: routing.clone(),
            frames: hello,
        },
    );
    check.drain(&mut node);
    let mut input = Bytes8(data);
    while let Some(op) = input.u8() {
        let result = match op % 12 {
            // A well-formed message with the next sequence.
            0..=3 => {
                let kind = input.u8().unwrap_or(0);
                let group = GROUPS[usize::from(input.u8().unwrap_or(0)) % GROUPS.len()];
                let status = input.u8().unwrap_or(0);
                let len = usize::from(input.u8().unwrap_or(0) % 16);
                let msg = message(kind, group, status, input.take(len));
                seq = if matches!(msg, Message::Hello(_)) {
                    1
                } else {
                    seq.wrapping_add(1)
                };
                let frames = msg.encode(seq).unwrap();
                node.handle(
                    now,
                    Input::Inbox {
                        routing_id: routing.clone(),
                        frames,
                    },
                )
            }
            // A message with any sequence.
            4 => {
                let kind = input.u8().unwrap_or(0);
                let s = input.u16().unwrap_or(0);
                let frames = message(kind, "g", 0, Vec::new()).encode(s).unwrap();
                node.handle(
                    now,
                    Input::Inbox {
                        routing_id: routing.clone(),
                        frames,
                    },
                )
            }
            // Raw frames after a valid head: anything may follow.
            5 => {
                let kind = input.u8().unwrap_or(0);
                let len = usize::from(input.u8().unwrap_or(0) % 64);
                let s = seq.wrapping_add(1);
                let mut head = vec![0xAA, 0xA1, kind % 12, 2];
                head.extend_from_slice(&s.to_be_bytes());
                head.extend_from_slice(&input.take(len));
                let r = node.handle(
                    now,
                    Input::Inbox {
                        routing_id: routing.clone(),
                        frames: vec![Bytes::from(head)],
                    },
                );
                if r.is_ok() {
                    seq = s;
                }
                r
            }
            // Completely raw bytes, possibly with a bad routing id.
            6 => {
                let rid = input.u8().unwrap_or(0);
                let len = usize::from(input.u8().unwrap_or(0) % 64);
                let routing_id = if rid & 1 == 0 {
                    routing.clone()
                } else {
                    Bytes::from(input.take(usize::from(rid % 20)))
                };
                node.handle(
                    now,
                    Input::Inbox {
                        routing_id,
                        frames: vec![Bytes::from(input.take(len))],
                    },
                )
            }
            // Time passes.
            7 => {
                now += Duration::from_millis(u64::from(input.u8().unwrap_or(0)) * 4);
                if node.poll_timeout().is_some_and(|d| d <= now) {
                    node.handle_timeout(now);
                    assert!(node.poll_timeout().is_none_or(|d| d > now));
                }
                Ok(())
            }
            // Commands.
            8 => {
                let c = input.u8().unwrap_or(0);
                let group = GROUPS[usize::from(c >> 4) % GROUPS.len()].to_string();
                let cmd = match c % 5 {
                    0 => Command::Join(group),
                    1 => Command::Leave(group),
                    2 => Command::Shout {
                        group,
                        content: std::iter::once(Bytes::from_static(b"x")).collect(),
                    },
                    3 => Command::Whisper {
                        peer: if c & 0x10 == 0 { fake } else { other },
                        content: Content::new(),
                    },
                    _ => Command::Contest(group),
                };
                node.handle(now, Input::Command(cmd))
            }
            // Discovery.
            9 => {
                let c = input.u8().unwrap_or(0);
                let id = if c & 1 == 0 { fake } else { other };
                match c % 6 {
                    0 | 1 => node.handle(
                        now,
                        Input::Discovered {
                            id,
                            endpoint: format!("tcp://127.0.0.1:{}", c % 4),
                        },
                    ),
                    2 | 3 => node.handle(now, Input::Departed { id }),
                    4 => {
                        // A datagram on the beacon port: often a real beacon, sometimes noise.
                        let len = usize::from(input.u8().unwrap_or(0) % 60);
                        let mut data = input.take(len);
                        if c & 0x80 == 0 && data.len() >= 22 {
                            data.truncate(22);
                            data[..4].copy_from_slice(b"ZRE\x01");
                            data[4..20].copy_from_slice(id.as_bytes());
                        }
                        node.handle(
                            now,
                            Input::Beacon {
                                from: std::net::IpAddr::from([127, 0, 0, c % 4]),
                                data: Bytes::from(data),
                            },
                        )
                    }
                    _ => node.handle(now, Input::SendFailed { id }),
                }
            }
            // Stop (rarely).
            10 => {
                if input.u8().unwrap_or(0) == 0xFF {
                    node.handle(now, Input::Command(Command::Stop))
                } else {
                    Ok(())
                }
            }
            _ => {
                node.handle_timeout(now);
                Ok(())
            }
        };
        let _ = result;
        check.drain(&mut node);
    }
});
