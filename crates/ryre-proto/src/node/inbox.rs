//! What peers send a node: every ZRE message, checked (routing id, sequence, status) and turned
//! into events and replies.

use std::sync::Arc;
use std::time::Instant;

use crate::msg::{Content, DecodeError, Hello, Message};
use crate::PeerId;

use super::{NodeState, Problem};
use crate::{Event, ExitReason};

impl NodeState {
    /// Acts on one inbox message given as its routing id, frame 1 and the frames after it: the
    /// same as [`Input::Inbox`](crate::Input::Inbox) without copying frame 1 or the routing id.
    pub fn handle_message(
        &mut self,
        now: Instant,
        routing_id: &[u8],
        head: &[u8],
        content: Content,
    ) -> Result<(), Problem> {
        self.on_message(now, routing_id, Some(head), content)
    }

    /// `head` is `None` when the message had no frame at all.
    pub(super) fn on_message(
        &mut self,
        now: Instant,
        routing_id: &[u8],
        head: Option<&[u8]>,
        content: Content,
    ) -> Result<(), Problem> {
        let Some(from) = PeerId::from_routing_id(routing_id) else {
            self.stats.malformed += 1;
            return Err(Problem::BadRoutingId(routing_id.len()));
        };
        let decoded = match head {
            Some(head) => Message::decode_parts(head, content),
            None => Err(DecodeError::Empty),
        };
        let env = match decoded {
            Ok(env) => env,
            Err(error) => {
                self.stats.malformed += 1;
                return Err(Problem::Malformed { from, error });
            }
        };
        if self.stopped || from == self.config.id {
            self.stats.ignored += 1;
            return Ok(());
        }
        if let Message::Hello(hello) = env.message {
            return self.on_hello(now, from, env.sequence, hello);
        }
        let Some(peer) = self.peers.get_mut(&from).filter(|p| p.info.ready) else {
            self.stats.ignored += 1;
            self.resync(now, from);
            return Err(Problem::NotReady {
                from,
                msg: env.message.name(),
            });
        };
        let expected = peer.want_sequence.wrapping_add(1);
        // Pyre 0.3.4 wraps its sequence modulo 65535 (65534 -> 0): accept that step too, so a
        // long-lived link from Pyre survives it. Zyre's 65535 -> 0 is the `expected` case.
        let pyre_wrap = expected == 65535 && env.sequence == 0;
        if env.sequence != expected && !pyre_wrap && !self.broken_sequence_check {
            self.drop_link_fault(
                now,
                from,
                ExitReason::SequenceGap {
                    expected,
                    got: env.sequence,
                },
            );
            return Err(Problem::SequenceGap {
                from,
                expected,
                got: env.sequence,
            });
        }
        peer.want_sequence = env.sequence;
        peer.refresh(now);
        let name = peer.info.name.clone();
        self.stats.received += 1;
        // Hearing from a peer can bring its deadline forward (an evasive peer that answers is
        // due for its keep-alive PING sooner than for its next reap).
        self.reindex(from);
        match env.message {
            // HELLO was handled above.
            Message::Hello(_) => {}
            Message::Whisper { content } => {
                self.events.push_back(Event::Whisper {
                    peer: from,
                    name,
                    content,
                });
            }
            Message::Shout { group, content } => {
                self.events.push_back(Event::Shout {
                    peer: from,
                    name,
                    group,
                    content,
                });
            }
            Message::Join { group, status } => {
                let mismatch = self.track_status(from, status);
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.groups.insert(group.clone());
                }
                if self.groups.join(&group, from) {
                    self.events.push_back(Event::Join {
                        peer: from,
                        name,
                        group: group.clone(),
                    });
                }
                self.elections_on_peer_join(&group);
                return mismatch;
            }
            Message::Leave { group, status } => {
                let mismatch = self.track_status(from, status);
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.groups.remove(&group);
                }
                if self.groups.leave(&group, from) {
                    self.events.push_back(Event::Leave {
                        peer: from,
                        name,
                        group: group.clone(),
                    });
                }
                self.elections_on_peer_gone(from, &group);
                return mismatch;
            }
            Message::Ping => {
                self.send(from, &Message::PingOk)?;
            }
            Message::PingOk => {}
            Message::Elect { group, challenger } => return self.on_elect(from, group, challenger),
            Message::Leader { group, leader } => return self.on_leader(from, group, leader),
            Message::Goodbye => self.remove_peer(from, ExitReason::Goodbye),
        }
        Ok(())
    }

    /// A peer we know, but which has not said HELLO, sends something else: its HELLO was lost
    /// (its link to us was re-established after it was sent). ZRE has no way to ask for HELLO
    /// again, but every implementation re-creates a peer that says HELLO twice, and greets it
    /// anew: so we say HELLO again on a fresh link, and the peer answers with its own HELLO.
    /// At most once per reap interval per peer.
    fn resync(&mut self, now: Instant, from: PeerId) {
        let Some(peer) = self.peers.get(&from) else {
            return;
        };
        if peer.info.ready || peer.resync_after.is_some_and(|t| now < t) {
            return;
        }
        let endpoint = peer.info.endpoint.clone();
        self.remove_peer(from, crate::ExitReason::Rehello);
        self.require_peer(now, from, endpoint);
        let after = now + self.config.reap_interval();
        if let Some(p) = self.peers.get_mut(&from) {
            p.resync_after = Some(after);
        }
    }

    /// Steps the peer's status by one (wrapping at 256) and checks it against what it sent.
    fn track_status(&mut self, from: PeerId, got: u8) -> Result<(), Problem> {
        let Some(peer) = self.peers.get_mut(&from) else {
            return Ok(());
        };
        let expected = peer.status.wrapping_add(1);
        peer.status = got;
        if expected == got {
            Ok(())
        } else {
            Err(Problem::StatusMismatch {
                from,
                expected,
                got,
            })
        }
    }

    fn on_hello(
        &mut self,
        now: Instant,
        from: PeerId,
        sequence: u16,
        hello: Hello,
    ) -> Result<(), Problem> {
        if self.has_departed(now, &from) {
            self.stats.ignored += 1;
            return Err(Problem::Departed(from));
        }
        if self.peers.get(&from).is_some_and(|p| p.info.ready) {
            // A second HELLO: the peer restarted. Drop it and take it anew.
            self.remove_peer(from, ExitReason::Rehello);
        }
        self.require_peer(now, from, hello.endpoint.clone());
        if sequence != 1 {
            self.remove_peer(
                from,
                ExitReason::SequenceGap {
                    expected: 1,
                    got: sequence,
                },
            );
            return Err(Problem::SequenceGap {
                from,
                expected: 1,
                got: sequence,
            });
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return Ok(());
        };
        peer.want_sequence = 1;
        peer.status = hello.status;
        peer.info.name = Arc::from(hello.name.as_str());
        peer.info.endpoint = hello.endpoint;
        peer.info.headers = hello.headers;
        peer.info.ready = true;
        peer.refresh(now);
        self.stats.received += 1;
        let name = peer.info.name.clone();
        self.events.push_back(Event::Enter {
            peer: from,
            name: name.clone(),
            headers: peer.info.headers.clone(),
            endpoint: peer.info.endpoint.clone(),
        });
        for group in hello.groups {
            peer.info.groups.insert(group.clone());
            if self.groups.join(&group, from) {
                self.events.push_back(Event::Join {
                    peer: from,
                    name: name.clone(),
                    group: group.clone(),
                });
            }
        }
        self.reindex(from);
        let groups: Vec<String> = self.peers[&from].info.groups.iter().cloned().collect();
        for g in groups {
            self.elections_on_peer_join(&g);
        }
        Ok(())
    }
}
