//! What peers send a node: every ZRE message, checked (routing id, sequence, status) and turned
//! into events and replies.

use std::sync::Arc;
use std::time::Instant;

use crate::msg::{Content, DecodeError, Decoded, Hello, Message};
use crate::security::cert::Rights;
use crate::security::{Auth, Refusal, PUBLIC_KEY_HEADER};
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
        self.handle_message_auth(now, Auth::Plain, routing_id, head, content)
    }

    /// [`NodeState::handle_message`] with how the transport authenticated the sender. In secure
    /// mode a message is accepted only from the key bound to its UUID (or, for a node of this
    /// process, over a memory link); anything else is dropped, counted and returned as
    /// [`Problem::Refused`]. In open mode `auth` is ignored.
    pub fn handle_message_auth(
        &mut self,
        now: Instant,
        auth: Auth,
        routing_id: &[u8],
        head: &[u8],
        content: Content,
    ) -> Result<(), Problem> {
        self.now = Some(now);
        self.count_in(Some(head), &content);
        let result = self.on_message(now, auth, routing_id, Some(head), content);
        self.count_problem(&result);
        result
    }

    /// The secure-mode check of one decoded message from `from` (`hello`: the message, when it
    /// is a HELLO).
    fn authorise(
        &mut self,
        now: Instant,
        auth: Auth,
        from: PeerId,
        hello: Option<&Hello>,
    ) -> Result<(), Problem> {
        let Some(ring) = self.keyring.as_mut() else {
            return Ok(());
        };
        let mut verdict = match (auth, hello) {
            (Auth::Plain, _) => Err(Refusal::Downgrade),
            (Auth::Process, _) => ring.admit_process(from),
            (Auth::Key(key), Some(hello)) => match hello.headers.get(PUBLIC_KEY_HEADER) {
                Some(h) if h.trim() != key.to_z85() => Err(Refusal::HeaderMismatch {
                    header: h.chars().take(64).collect(),
                }),
                _ => ring.admit(from, key),
            },
            (Auth::Key(key), _) => ring.check(&from, &key),
        };
        if let (Ok(()), Some(c), Some(hello)) = (&verdict, self.cert.as_mut(), hello) {
            // Certified mode: the chain in HELLO, for the key the link authenticated.
            let link = match auth {
                Auth::Key(key) => Some(key),
                _ => None,
            };
            let wall = c.wall(now);
            let header = hello
                .headers
                .get(crate::security::certified::CERT_HEADER)
                .map(String::as_str);
            if let Err(e) = c.state.admit(from, link, header, wall) {
                verdict = Err(Refusal::Certificate(e));
                // Stop greeting it: forget the peer that discovery introduced.
                self.remove_peer(from, ExitReason::Expired);
            }
        }
        let Err(reason) = verdict else {
            return Ok(());
        };
        if matches!(reason, Refusal::KeyMismatch { .. }) {
            // Someone holding another key took over the peer's routing id (libzmq hands a
            // routing id over to the newest connection): the real peer's link into our inbox
            // is cut. Greet it anew so that it reconnects and takes the id back.
            self.regreet(now, from);
        }
        Err(self.refuse(from, reason))
    }

    /// Re-creates a ready peer (EXIT, then a fresh link and HELLO; the peer answers HELLO with
    /// its own on a new connection). At most once per reap interval per peer.
    fn regreet(&mut self, now: Instant, from: PeerId) {
        let Some(peer) = self.peers.get(&from) else {
            return;
        };
        if !peer.info.ready || peer.resync_after.is_some_and(|t| now < t) {
            return;
        }
        let endpoint = peer.info.endpoint.clone();
        self.remove_peer(from, ExitReason::Rehello);
        self.require_peer(now, from, endpoint);
        let after = now + self.config.reap_interval();
        if let Some(p) = self.peers.get_mut(&from) {
            p.resync_after = Some(after);
        }
    }

    /// `head` is `None` when the message had no frame at all.
    pub(super) fn on_message(
        &mut self,
        now: Instant,
        auth: Auth,
        routing_id: &[u8],
        head: Option<&[u8]>,
        content: Content,
    ) -> Result<(), Problem> {
        let Some(from) = PeerId::from_routing_id(routing_id) else {
            self.stats.malformed += 1;
            return Err(Problem::BadRoutingId(routing_id.len()));
        };
        let decoded = match head {
            Some(head) => {
                let known = self.shout_group.as_deref();
                Message::decode_borrowed(head, content, known)
            }
            None => Err(DecodeError::Empty),
        };
        let (sequence, message) = match decoded {
            Ok(d) => d,
            Err(error) => {
                self.stats.malformed += 1;
                return Err(Problem::Malformed { from, error });
            }
        };
        // A stopping node takes no new peers (it still hears its peers' PING-OK).
        let stopping_hello = self.stopping.is_some() && message.hello().is_some();
        if self.stopped || from == self.config.id || stopping_hello {
            self.stats.ignored += 1;
            return Ok(());
        }
        self.authorise(now, auth, from, message.hello())?;
        let message = match message {
            Decoded::Other(Message::Hello(hello)) => {
                return self.on_hello(now, from, sequence, hello);
            }
            other => other,
        };
        let Some(slot) = self
            .peers
            .slot(&from)
            .filter(|&i| self.peers.at(i).info.ready)
        else {
            self.stats.ignored += 1;
            self.resync(now, from);
            return Err(Problem::NotReady {
                from,
                msg: message.name(),
            });
        };
        let peer = self.peers.at_mut(slot);
        let expected = peer.want_sequence.wrapping_add(1);
        // Pyre 0.3.4 wraps its sequence modulo 65535 (65534 -> 0): accept that step too, so a
        // long-lived link from Pyre survives it. Zyre's 65535 -> 0 is the `expected` case.
        let pyre_wrap = expected == 65535 && sequence == 0;
        if sequence != expected && !pyre_wrap && !self.broken_sequence_check {
            self.drop_link_fault(
                now,
                from,
                ExitReason::SequenceGap {
                    expected,
                    got: sequence,
                },
            );
            return Err(Problem::SequenceGap {
                from,
                expected,
                got: sequence,
            });
        }
        // The usual case: an alive peer that was heard less than half the evasive time ago
        // (not pinged since) is in the fresh list, and hearing from it now moves it to the back
        // (its deadline, half the evasive time from now, is the latest). A supervised peer has
        // no deadline, and hearing from it changes none. Any other peer's deadline may come
        // forward (an evasive peer that answers is due for its keep-alive PING sooner than for
        // its next reap): `reindex`. No message but HELLO changes the endpoint.
        let fresh = peer.is_fresh();
        let supervised = peer.supervised;
        peer.want_sequence = sequence;
        peer.refresh(now);
        let name = peer.info.name.clone();
        self.stats.received += 1;
        if fresh {
            self.peers.fresh_place(slot);
        } else if supervised {
            debug_assert!(self.timers_settled());
        } else {
            self.reindex(from);
        }
        let message = match message {
            Decoded::Shout { group, content } => {
                if let Some(c) = &self.cert {
                    let name = group.or(self.shout_group.as_deref()).unwrap_or_default();
                    if !c.state.peer_may(&from, name, Rights::SHOUT) {
                        return Err(Problem::NotEntitled {
                            id: from,
                            what: "shout to",
                            group: name.to_string(),
                        });
                    }
                }
                // The group of the last SHOUT (shouts mostly go to one group), else the name
                // the peer's group set shares (a member shouts to its group): a SHOUT
                // allocates no string.
                let group = match group {
                    None => self.shout_group.clone().unwrap_or_else(|| Arc::from("")),
                    Some(group) => {
                        let shared = match self.peers.at(slot).info.groups.shared(group) {
                            Some(g) => g.clone(),
                            None => Arc::from(group),
                        };
                        self.shout_group = Some(shared.clone());
                        shared
                    }
                };
                self.events.push_back(Event::Shout {
                    peer: from,
                    name,
                    group,
                    content,
                });
                return Ok(());
            }
            Decoded::Other(m) => m,
        };
        match message {
            // HELLO was handled above; a SHOUT comes as `Decoded::Shout`.
            Message::Hello(_) | Message::Shout { .. } => {}
            Message::Whisper { content } => {
                if let Some(c) = &self.cert {
                    let is_exchange = content.first().is_some_and(|f| {
                        f.as_ref() == crate::security::certified::REVOCATIONS_FRAME
                    });
                    if is_exchange {
                        let list = content.get(1).and_then(|f| {
                            crate::security::certified::Certified::decode_revocations(f)
                        });
                        return match list {
                            Some(list) => {
                                self.add_revocations(now, Some(from), list);
                                Ok(())
                            }
                            None => {
                                self.stats.malformed += 1;
                                Err(Problem::Malformed {
                                    from,
                                    error: DecodeError::Empty,
                                })
                            }
                        };
                    }
                    if !c.state.peer(&from).is_some_and(|p| p.whisper_in) {
                        return Err(Problem::NotEntitled {
                            id: from,
                            what: "whisper to",
                            group: self.config.id.to_string(),
                        });
                    }
                }
                self.events.push_back(Event::Whisper {
                    peer: from,
                    name,
                    content,
                });
            }
            Message::Join { group, status } => {
                let mismatch = self.track_status(from, status);
                if let Some(c) = &self.cert {
                    if !c.state.peer_may(&from, &group, Rights::JOIN) {
                        // Not a member: it never gets the group's shouts.
                        return Err(Problem::NotEntitled {
                            id: from,
                            what: "join",
                            group,
                        });
                    }
                }
                let (shared, new) = self.groups.join(&group, from);
                if let Some(p) = self.peers.get_mut(&from) {
                    p.info.groups.insert(shared);
                }
                if new {
                    self.events.push_back(Event::Join {
                        peer: from,
                        name,
                        group: group.clone(),
                    });
                }
                self.elections_on_peer_join(from, &group);
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
            Message::PingOk => self.flushed(from),
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
        let mut greeted = false;
        if let Some(p) = self.peers.get(&from).filter(|p| p.info.ready) {
            // A second HELLO: the peer's link to us started again (it took us anew).
            if p.resync_after.is_some_and(|t| now < t) {
                // We greeted it ourselves less than a reap interval ago: this HELLO answers
                // ours (an older HELLO of it made it ready meanwhile). EXIT and ENTER, but no
                // new greeting on a new link: that one would land on a ready peer too, and a
                // HELLO would bounce between the two for ever (found by ryre-sim, swarm seed
                // 512). Our link to it, which it has just been greeted on, stays.
                self.unready(from, ExitReason::Rehello);
            } else {
                // Drop it and take it anew.
                self.remove_peer(from, ExitReason::Rehello);
                greeted = true;
            }
        }
        self.require_peer(now, from, hello.endpoint.clone());
        if greeted {
            let after = now + self.config.reap_interval();
            if let Some(p) = self.peers.get_mut(&from) {
                p.resync_after = Some(after);
            }
        }
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
        let mut denied = None;
        for group in hello.groups {
            if let Some(c) = &self.cert {
                if !c.state.peer_may(&from, &group, Rights::JOIN) {
                    denied = Some(group);
                    continue;
                }
            }
            let (shared, new) = self.groups.join(&group, from);
            peer.info.groups.insert(shared);
            if new {
                self.events.push_back(Event::Join {
                    peer: from,
                    name: name.clone(),
                    group: group.clone(),
                });
            }
        }
        self.reindex(from);
        let groups = self.peers[&from].info.groups.clone();
        for g in &groups {
            self.elections_on_peer_join(from, g);
        }
        // Certified mode: when the peer's revocations differ from ours, send ours (it sends
        // its own the same way; each side keeps what is new and passes it on).
        let exchange = self.cert.as_ref().and_then(|c| {
            let theirs = self.peers[&from]
                .info
                .headers
                .get(crate::security::certified::REVOCATIONS_HEADER)
                .map(String::as_str);
            (c.state.revocations_differ(theirs) && !c.state.revocations().is_empty())
                .then(|| c.state.revocation_messages())
        });
        for frame in exchange.into_iter().flatten() {
            self.send_revocations(from, &frame);
        }
        // Certified mode: admitted (we got here), so it may now learn our groups.
        self.announce_groups(from);
        match denied {
            Some(group) => Err(Problem::NotEntitled {
                id: from,
                what: "join",
                group,
            }),
            None => Ok(()),
        }
    }
}
