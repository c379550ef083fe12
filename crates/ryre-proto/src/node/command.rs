//! What the application asks of a node: join, leave, whisper, shout, contest, connect, stop.

use std::time::Instant;

use crate::msg::{Content, Message};
use crate::security::cert::Rights;
use crate::PeerId;

use super::{Command, NodeState, Problem};
use crate::{Event, Transmit};

impl NodeState {
    /// Certified mode: whether this node's own certificate grants `rights` in `group`.
    fn own_right(&self, group: &str, rights: Rights, what: &'static str) -> Result<(), Problem> {
        match &self.cert {
            Some(c) if !c.state.own_may(group, rights) => Err(Problem::NotEntitled {
                id: self.config.id,
                what,
                group: group.to_string(),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn on_command(&mut self, now: Instant, cmd: Command) -> Result<(), Problem> {
        if self.is_stopping() {
            return Err(Problem::Stopped);
        }
        match cmd {
            Command::Join(group) => {
                if self.own_groups.contains(&group) {
                    return Ok(());
                }
                self.own_right(&group, Rights::JOIN, "join")?;
                // Check the name fits before changing any state.
                Message::Join {
                    group: group.clone(),
                    status: 0,
                }
                .encode_head(0, &mut self.scratch)?;
                self.own_groups.insert(group.clone());
                self.status = self.status.wrapping_add(1);
                self.hello_cache = None;
                self.send_membership(&group, true)?;
                self.elections_on_own_join(&group);
                Ok(())
            }
            Command::Leave(group) => {
                if !self.own_groups.remove(&group) {
                    return Ok(());
                }
                self.status = self.status.wrapping_add(1);
                self.hello_cache = None;
                self.elections.own_leave(&group);
                self.send_membership(&group, false)
            }
            Command::Whisper { peer, content } => {
                if let Some(c) = &self.cert {
                    if !c.state.peer(&peer).is_some_and(|p| p.whisper_out) {
                        return Err(Problem::NotEntitled {
                            id: self.config.id,
                            what: "whisper to",
                            group: peer.to_string(),
                        });
                    }
                }
                // send_parts refuses an unknown peer itself.
                self.send_parts(
                    peer,
                    &Message::Whisper {
                        content: Content::new(),
                    },
                    content,
                )
            }
            Command::Shout { group, content } => {
                self.own_right(&group, Rights::SHOUT, "shout to")?;
                let msg = Message::Shout {
                    group,
                    content: Content::new(),
                };
                // One encode for every member (their heads differ only in the sequence); it
                // also rejects a name that cannot go on the wire, members or not.
                msg.encode_head(0, &mut self.scratch)?;
                let Message::Shout { group, .. } = &msg else {
                    return Ok(());
                };
                self.send_shout(group, content)
            }
            Command::Connect { peer, endpoint } => {
                if self
                    .keyring
                    .as_ref()
                    .is_some_and(|r| r.key(&peer).is_none())
                {
                    // Secure mode connects only to a known key (see Input::DiscoveredKey).
                    return Err(self.refuse(peer, crate::security::Refusal::NoKey));
                }
                if peer != self.config.id {
                    self.require_peer(now, peer, endpoint);
                }
                Ok(())
            }
            Command::Contest(group) => {
                self.elections.contest(&group);
                if self.own_groups.contains(&group) {
                    self.elections_on_own_join(&group);
                }
                Ok(())
            }
            Command::Stop => {
                let waiting: std::collections::HashSet<PeerId, _> =
                    if self.config.stop_flush > std::time::Duration::ZERO {
                        self.peers
                            .values()
                            .filter(|p| p.info.ready && p.unflushed)
                            .map(|p| p.info.id)
                            .collect()
                    } else {
                        Default::default()
                    };
                if waiting.is_empty() {
                    self.finish_stop();
                    return Ok(());
                }
                for &id in &waiting {
                    let _ = self.send(id, &Message::Ping);
                }
                self.stopping = Some(super::StopFlush {
                    until: now + self.config.stop_flush,
                    waiting,
                });
                Ok(())
            }
        }
    }

    /// A stopping node heard `id`'s PING-OK (or lost the peer): once every peer it waits for
    /// has answered, it stops.
    pub(crate) fn flushed(&mut self, id: PeerId) {
        let Some(flush) = self.stopping.as_mut() else {
            return;
        };
        if flush.waiting.remove(&id) && flush.waiting.is_empty() {
            self.finish_stop();
        }
    }

    /// Drops every peer and stops: STOP is the last event.
    pub(crate) fn finish_stop(&mut self) {
        self.stopping = None;
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            if let Some(peer) = self.peers.remove(&id) {
                for g in &peer.info.groups {
                    self.groups.leave(g, id);
                }
            }
            self.transmits.push_back(Transmit::Disconnect { peer: id });
        }
        self.stopped = true;
        self.clear_index();
        self.elections.stop();
        self.retake.clear();
        self.events.push_back(Event::Stop {
            peer: self.config.id,
            name: self.name.clone(),
        });
    }
}
