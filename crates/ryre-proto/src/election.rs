//! Leader elections in groups: Zyre's ELECT/LEADER echo ("wave") algorithm, so that elections
//! complete when ryre nodes are in a group with Zyre nodes, without Zyre's aborts and hangs.
//!
//! A contesting member starts a wave with its own id as challenger and sends ELECT to every group
//! member. A node that gets ELECT with a challenger lower (as 32-hex text) than its current one
//! adopts it, remembers the sender as its father and relays ELECT to every other member. Each ELECT
//! for the current challenger is counted; when every member has been heard, the node echoes ELECT
//! to its father, or, if it is the challenger, sends LEADER to every member. Each node relays
//! LEADER once and reports the LEADER event when every member has sent it LEADER.
//!
//! Where Zyre aborts or hangs, ryre recovers: a LEADER without a preceding ELECT is relayed with
//! the announced id; a member leaving mid-election restarts (or resets) the wave; a group with no
//! other member makes a contesting node its own leader at once; groups learned from HELLO start a
//! wave too, so two nodes that joined before they met still elect.

use std::collections::{BTreeMap, BTreeSet};

use crate::msg::Message;
use crate::node::{NodeState, Problem};
use crate::Event;
use crate::PeerId;

/// One group's wave in progress.
#[derive(Debug, Default, Clone)]
struct Wave {
    /// Current active wave: the challenger's id as 32 uppercase hex.
    challenger: Option<String>,
    father: Option<PeerId>,
    elect_count: usize,
    leader_count: usize,
    /// Whether the wave completed here (echo or LEADER sent): it is not sent twice.
    echoed: bool,
}

/// Election state of every group this node has seen ELECT/LEADER for or contests.
#[derive(Debug, Default)]
pub(crate) struct Elections {
    contested: BTreeSet<String>,
    waves: BTreeMap<String, Wave>,
    leaders: BTreeMap<String, PeerId>,
}

impl Elections {
    pub fn contest(&mut self, group: &str) {
        self.contested.insert(group.to_string());
    }

    pub fn contests(&self, group: &str) -> bool {
        self.contested.contains(group)
    }

    pub fn own_leave(&mut self, group: &str) {
        self.waves.remove(group);
        self.leaders.remove(group);
    }

    /// The leader of `group`, once an election there has completed.
    pub fn leader(&self, group: &str) -> Option<PeerId> {
        self.leaders.get(group).copied()
    }
}

impl NodeState {
    /// Starts a wave in `group` if we contest it and are in it.
    fn start_wave(&mut self, group: &str) {
        if !self.elections.contests(group) || !self.own_groups.contains(group) {
            return;
        }
        let own = self.config.id.to_string();
        let members: Vec<PeerId> = self.groups.members(group).collect();
        self.elections.leaders.remove(group);
        if members.is_empty() {
            self.elections.waves.remove(group);
            self.elections
                .leaders
                .insert(group.to_string(), self.config.id);
            self.events.push_back(Event::Leader {
                peer: self.config.id,
                name: self.name.clone(),
                group: group.to_string(),
            });
            return;
        }
        self.elections.waves.insert(
            group.to_string(),
            Wave {
                challenger: Some(own.clone()),
                ..Wave::default()
            },
        );
        let msg = Message::Elect {
            group: group.to_string(),
            challenger: own,
        };
        for id in members {
            let _ = self.send(id, &msg);
        }
    }

    /// We joined `group` or started contesting it.
    pub(crate) fn elections_on_own_join(&mut self, group: &str) {
        self.start_wave(group);
    }

    /// A peer joined `group` (JOIN message, or a group in its HELLO).
    pub(crate) fn elections_on_peer_join(&mut self, group: &str) {
        self.start_wave(group);
    }

    /// A peer left `group` or is gone. A wave that neither came from it nor hangs on it (as the
    /// challenger or our father) goes on: with one member fewer to hear from, it may be complete
    /// now. Otherwise the wave is dropped and, if we contest, a new one starts; so does one when
    /// the peer was the leader. (Zyre leaves the wave as it was, and it can hang for ever.)
    pub(crate) fn elections_on_peer_gone(&mut self, peer: PeerId, group: &str) {
        let was_leader = self.elections.leaders.get(group) == Some(&peer);
        if was_leader {
            self.elections.leaders.remove(group);
        }
        let gone = peer.to_string();
        let wave = self.elections.waves.get(group).cloned();
        match wave {
            Some(w) if w.father != Some(peer) && w.challenger.as_deref() != Some(gone.as_str()) => {
                self.check_wave(group);
            }
            Some(_) => {
                self.elections.waves.remove(group);
                self.start_wave(group);
            }
            None if was_leader => self.start_wave(group),
            None => {}
        }
    }

    /// Completes the wave in `group` if every member has been heard: echoes to the father, or,
    /// for our own wave, announces LEADER; reports LEADER when every member has relayed it.
    fn check_wave(&mut self, group: &str) {
        let members = self.groups.members(group).count();
        let Some(wave) = self.elections.waves.get(group).cloned() else {
            return;
        };
        let Some(challenger) = wave.challenger.clone() else {
            return;
        };
        if wave.leader_count > 0 {
            if wave.leader_count >= members {
                if let Ok(leader) = challenger.parse::<PeerId>() {
                    self.finish(group.to_string(), leader);
                }
            }
            return;
        }
        if wave.elect_count < members || wave.echoed {
            return;
        }
        if let Some(w) = self.elections.waves.get_mut(group) {
            w.echoed = true;
        }
        if challenger == self.config.id.to_string() {
            let msg = Message::Leader {
                group: group.to_string(),
                leader: challenger,
            };
            for id in self.groups.members(group).collect::<Vec<_>>() {
                let _ = self.send(id, &msg);
            }
        } else if let Some(father) = wave.father {
            let _ = self.send(
                father,
                &Message::Elect {
                    group: group.to_string(),
                    challenger,
                },
            );
        }
    }

    /// The election in `group` is over: `leader` leads.
    fn finish(&mut self, group: String, leader: PeerId) {
        self.elections.waves.remove(&group);
        self.elections.leaders.insert(group.clone(), leader);
        let name = if leader == self.config.id {
            self.name.clone()
        } else {
            self.peers
                .get(&leader)
                .map(|p| p.info.name.clone())
                .unwrap_or_else(|| std::sync::Arc::from(""))
        };
        self.events.push_back(Event::Leader {
            peer: leader,
            name,
            group,
        });
    }

    pub(crate) fn on_elect(
        &mut self,
        from: PeerId,
        group: String,
        challenger: String,
    ) -> Result<(), Problem> {
        if challenger.parse::<PeerId>().is_err() {
            return Err(Problem::BadElection {
                from,
                id: challenger,
            });
        }
        let wave = self.elections.waves.entry(group.clone()).or_default();
        let superior = wave.challenger.as_ref().is_none_or(|c| challenger < *c);
        if superior {
            *wave = Wave {
                challenger: Some(challenger.clone()),
                father: Some(from),
                ..Wave::default()
            };
            let msg = Message::Elect {
                group: group.clone(),
                challenger: challenger.clone(),
            };
            let relay: Vec<PeerId> = self
                .groups
                .members(&group)
                .filter(|id| *id != from)
                .collect();
            for id in relay {
                let _ = self.send(id, &msg);
            }
        }
        let Some(wave) = self.elections.waves.get_mut(&group) else {
            return Ok(());
        };
        if wave.challenger.as_deref() != Some(challenger.as_str()) {
            return Ok(());
        }
        wave.elect_count += 1;
        self.check_wave(&group);
        Ok(())
    }

    pub(crate) fn on_leader(
        &mut self,
        from: PeerId,
        group: String,
        leader: String,
    ) -> Result<(), Problem> {
        let Ok(leader_id) = leader.parse::<PeerId>() else {
            return Err(Problem::BadElection { from, id: leader });
        };
        let own = self.config.id;
        let wave = self.elections.waves.entry(group.clone()).or_default();
        if leader_id != own && wave.leader_count == 0 {
            let msg = Message::Leader {
                group: group.clone(),
                leader: leader_id.to_string(),
            };
            for id in self.groups.members(&group).collect::<Vec<_>>() {
                let _ = self.send(id, &msg);
            }
        }
        let wave = self.elections.waves.entry(group.clone()).or_default();
        wave.leader_count += 1;
        // The announced leader is what this wave elected (a LEADER may come without ELECT).
        wave.challenger = Some(leader_id.to_string());
        if wave.leader_count >= self.groups.members(&group).count() {
            self.finish(group, leader_id);
        }
        Ok(())
    }
}
