//! Leader elections in groups: Zyre's ELECT/LEADER echo ("wave") algorithm, on the wire exactly
//! as Zyre sends it, so that elections complete when ryre nodes are in a group with Zyre nodes,
//! without Zyre's aborts and hangs.
//!
//! A contesting member starts a wave with its own id as challenger and sends ELECT to every group
//! member. A node that gets ELECT with a challenger lower (as 32-hex text, i.e. as bytes) than its
//! current one adopts it, remembers the sender as its father and relays ELECT to every other
//! member. When every member has sent it ELECT for the current challenger, the node echoes ELECT
//! to its father, or, if it is the challenger, decides it leads and sends LEADER to every member.
//! Each node relays LEADER once and reports the LEADER event when the leader it knows changes.
//!
//! ELECT carries no wave number, so a wave started again by the same challenger (Zyre restarts its
//! wave whenever a member joins) cannot be told from the old one by its content. Zyre counts
//! ELECT messages and hangs when a restarted wave's count misses messages consumed by the old
//! one. ryre counts *who* has sent ELECT for the current challenger (a set, kept across a restart
//! of that challenger's wave), and tells a restart by its sender: only the challenger itself ever
//! sends ELECT with its own id as challenger, and only when it starts (or extends) its wave. On
//! that, a node re-relays and owes the challenger a fresh echo. Further:
//!
//! - a member that joins while a wave runs gets ELECT from every member that knows it (a relay of
//!   the wave to a new neighbour), and a decided leader starts its wave again so that it learns
//!   the leader;
//! - an ELECT with a challenger higher than ours is answered with ours (Zyre ignores it, and the
//!   sender may wait for ever); a contesting member never follows a challenger it beats;
//! - a challenger whose own wave has not completed starts it again after a while (backing off),
//!   so a wave that lost a message to a link fault or a membership race still completes;
//! - a LEADER without a preceding ELECT is relayed with the announced id; a member leaving
//!   mid-election shrinks the wave (or, if it was the challenger, restarts the election); a group
//!   with no other member makes a contesting node its own leader at once; ids that are not known
//!   peers are ignored (a departed challenger must not live on as a ghost).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::msg::Message;
use crate::node::{NodeState, Problem};
use crate::Event;
use crate::PeerId;

/// One group's current wave: the lowest challenger this node knows of, and its progress.
#[derive(Debug, Clone)]
struct Wave {
    /// The current active wave's challenger.
    challenger: PeerId,
    /// Who brought the wave here (the echo goes to it); none for our own wave, or once it left.
    father: Option<PeerId>,
    /// Members that sent ELECT for this challenger while it was current here.
    heard: BTreeSet<PeerId>,
    /// The echo to the father (or, for our own wave, LEADER) went out.
    echoed: bool,
    /// A LEADER for this challenger was taken in this round (or our own wave completed).
    decided: bool,
    /// This round's LEADER relay went out.
    relayed_leader: bool,
    /// Our own undecided wave: when to start it again, and the current back-off.
    retry: Option<(Instant, Duration)>,
}

impl Wave {
    fn new(challenger: PeerId, father: Option<PeerId>) -> Self {
        Wave {
            challenger,
            father,
            heard: BTreeSet::new(),
            echoed: false,
            decided: false,
            relayed_leader: false,
            retry: None,
        }
    }
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

    /// The node stopped: no wave goes on (nor wakes it up).
    pub fn stop(&mut self) {
        self.waves.clear();
    }

    /// The leader of `group`, once an election there has completed.
    pub fn leader(&self, group: &str) -> Option<PeerId> {
        self.leaders.get(group).copied()
    }

    /// When an own wave that has not completed is due to start again.
    pub fn next_retry(&self) -> Option<Instant> {
        if self.waves.is_empty() {
            return None;
        }
        self.waves
            .values()
            .filter_map(|w| w.retry.map(|(at, _)| at))
            .min()
    }
}

impl NodeState {
    fn elect_msg(group: &str, challenger: PeerId) -> Message {
        Message::Elect {
            group: group.to_string(),
            challenger: challenger.to_string(),
        }
    }

    /// Whether `id` may stand in an election here: ourselves or a peer that said HELLO.
    fn electable(&self, id: PeerId) -> bool {
        id == self.config.id || self.peer(&id).is_some()
    }

    /// Records `leader` as the leader of `group`, reporting LEADER when it changed.
    fn set_leader(&mut self, group: &str, leader: PeerId) {
        if self.elections.leaders.get(group) == Some(&leader) {
            return;
        }
        self.elections.leaders.insert(group.to_string(), leader);
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
            group: group.to_string(),
        });
    }

    /// Starts (or starts again) our own wave in `group` if we contest it and are in it: ELECT to
    /// every member. Those that already follow our wave treat it as a restart (see the module
    /// documentation); our own count starts afresh.
    fn start_wave(&mut self, group: &str) {
        if !self.elections.contests(group) || !self.own_groups.contains(group) {
            return;
        }
        let own = self.config.id;
        let members: Vec<PeerId> = self.groups.members(group).collect();
        if members.is_empty() {
            let mut w = Wave::new(own, None);
            w.echoed = true;
            w.decided = true;
            self.elections.waves.insert(group.to_string(), w);
            self.set_leader(group, own);
            return;
        }
        let base = self.config.reap_interval();
        let backoff = match self.elections.waves.get(group) {
            Some(w) if w.challenger == own => w.retry.map_or(base, |(_, b)| b),
            _ => base,
        };
        let mut w = Wave::new(own, None);
        w.retry = self.now.map(|now| (now + backoff, backoff));
        self.elections.waves.insert(group.to_string(), w);
        let msg = Self::elect_msg(group, own);
        for id in members {
            let _ = self.send(id, &msg);
        }
        self.check_wave(group);
    }

    /// Own undecided waves whose time has come start again, each time after twice as long (up to
    /// the expired timeout).
    pub(crate) fn elections_timeout(&mut self, now: Instant) {
        let due: Vec<(String, Duration)> = self
            .elections
            .waves
            .iter()
            .filter_map(|(g, w)| match w.retry {
                Some((at, backoff)) if at <= now && !w.decided => Some((g.clone(), backoff)),
                _ => None,
            })
            .collect();
        let cap = self.config.expired.max(self.config.reap_interval());
        for (group, backoff) in due {
            if let Some(w) = self.elections.waves.get_mut(&group) {
                w.retry = Some((now, (backoff * 2).min(cap)));
            }
            self.start_wave(&group);
        }
    }

    /// We joined `group` or started contesting it: our wave starts unless a lower challenger is
    /// already known.
    pub(crate) fn elections_on_own_join(&mut self, group: &str) {
        let own = self.config.id;
        match self.elections.waves.get(group) {
            Some(w) if w.challenger < own => {}
            _ => self.start_wave(group),
        }
    }

    /// Peer `peer` joined `group` (JOIN message, or a group in its HELLO). A node that follows a
    /// wave relays it to the newcomer (which needs every member's ELECT, and whose own ELECT every
    /// member now needs); a challenger whose wave is decided starts it again so that the newcomer
    /// learns the leader; a contester that knows no wave starts its own.
    pub(crate) fn elections_on_peer_join(&mut self, peer: PeerId, group: &str) {
        let own = self.config.id;
        let Some(w) = self.elections.waves.get(group) else {
            self.start_wave(group);
            return;
        };
        if w.challenger == own {
            if w.decided {
                self.start_wave(group);
            } else {
                let _ = self.send(peer, &Self::elect_msg(group, own));
            }
            return;
        }
        let challenger = w.challenger;
        if challenger != peer {
            let _ = self.send(peer, &Self::elect_msg(group, challenger));
        }
        self.check_wave(group);
    }

    /// A peer left `group` or is gone. A wave that did not come from it goes on with one member
    /// fewer to hear from (it may be complete now); one whose challenger it was is dropped and,
    /// if we contest, our own starts; so does one when it was the leader.
    pub(crate) fn elections_on_peer_gone(&mut self, peer: PeerId, group: &str) {
        let was_leader = self.elections.leaders.get(group) == Some(&peer);
        if was_leader {
            self.elections.leaders.remove(group);
        }
        let Some(w) = self.elections.waves.get_mut(group) else {
            if was_leader {
                self.start_wave(group);
            }
            return;
        };
        if w.challenger == peer {
            self.elections.waves.remove(group);
            self.start_wave(group);
            return;
        }
        w.heard.remove(&peer);
        if w.father == Some(peer) {
            // Our relay reached the challenger directly; nobody waits for our echo any more.
            w.father = None;
        }
        if was_leader {
            self.start_wave(group);
        } else {
            self.check_wave(group);
        }
    }

    /// Completes the wave in `group` if every member has sent ELECT for it: echoes to the father,
    /// or, for our own wave, decides and announces LEADER.
    fn check_wave(&mut self, group: &str) {
        let own = self.config.id;
        let Some(w) = self.elections.waves.get(group) else {
            return;
        };
        if w.echoed || !self.groups.members(group).all(|m| w.heard.contains(&m)) {
            return;
        }
        let (challenger, father) = (w.challenger, w.father);
        if let Some(w) = self.elections.waves.get_mut(group) {
            w.echoed = true;
            if challenger == own {
                w.decided = true;
                w.relayed_leader = true;
                w.retry = None;
            }
        }
        if challenger == own {
            self.set_leader(group, own);
            let msg = Message::Leader {
                group: group.to_string(),
                leader: own.to_string(),
            };
            for id in self.groups.members(group).collect::<Vec<_>>() {
                let _ = self.send(id, &msg);
            }
        } else if let Some(father) = father {
            let _ = self.send(father, &Self::elect_msg(group, challenger));
        }
    }

    /// Follows the wave of `challenger`, which `from` brought: relays it to every other member.
    fn adopt(&mut self, from: PeerId, group: &str, challenger: PeerId) {
        let mut w = Wave::new(challenger, Some(from));
        w.heard.insert(from);
        self.elections.waves.insert(group.to_string(), w);
        if self.elections.leaders.get(group) != Some(&challenger) {
            // The leader we knew is not the lowest any more: undecided until this wave decides.
            self.elections.leaders.remove(group);
        }
        let msg = Self::elect_msg(group, challenger);
        let relay: Vec<PeerId> = self
            .groups
            .members(group)
            .filter(|id| *id != from)
            .collect();
        for id in relay {
            let _ = self.send(id, &msg);
        }
        self.check_wave(group);
    }

    pub(crate) fn on_elect(
        &mut self,
        from: PeerId,
        group: String,
        challenger: String,
    ) -> Result<(), Problem> {
        let Ok(r) = challenger.parse::<PeerId>() else {
            return Err(Problem::BadElection {
                from,
                id: challenger,
            });
        };
        let own = self.config.id;
        if !self.electable(r) {
            // Not a peer we know (yet): its own ELECT will come once we have met it.
            return Ok(());
        }
        let contesting = self.elections.contests(&group) && self.own_groups.contains(&group);
        let current = self.elections.waves.get(&group).map(|w| w.challenger);
        if contesting && own < r && current.is_none_or(|c| own < c) {
            // We beat this challenger: our own wave, which reaches `from` too.
            self.start_wave(&group);
            return Ok(());
        }
        match current {
            None => self.adopt(from, &group, r),
            Some(c) if r < c => self.adopt(from, &group, r),
            Some(c) if r == c => {
                let restart = from == r && r != own;
                let Some(w) = self.elections.waves.get_mut(&group) else {
                    return Ok(());
                };
                w.heard.insert(from);
                if restart {
                    // The challenger started its wave again: it waits for a fresh echo from us,
                    // and the members that restart with it for our relay.
                    w.father = Some(r);
                    w.echoed = false;
                    w.decided = false;
                    w.relayed_leader = false;
                    let msg = Self::elect_msg(&group, r);
                    let relay: Vec<PeerId> =
                        self.groups.members(&group).filter(|id| *id != r).collect();
                    for id in relay {
                        let _ = self.send(id, &msg);
                    }
                }
                self.check_wave(&group);
            }
            Some(c) => {
                // A challenger higher than ours: the sender has not heard of ours yet.
                let decided_own =
                    c == own && self.elections.waves.get(&group).is_some_and(|w| w.decided);
                if decided_own {
                    self.start_wave(&group);
                } else {
                    let _ = self.send(from, &Self::elect_msg(&group, c));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn on_leader(
        &mut self,
        from: PeerId,
        group: String,
        leader: String,
    ) -> Result<(), Problem> {
        let Ok(l) = leader.parse::<PeerId>() else {
            return Err(Problem::BadElection { from, id: leader });
        };
        let own = self.config.id;
        if l == own || !self.electable(l) {
            // Our own LEADER coming back (our wave decides by itself), or an unknown id.
            return Ok(());
        }
        let current = self.elections.waves.get(&group).map(|w| w.challenger);
        let contesting = self.elections.contests(&group) && self.own_groups.contains(&group);
        if contesting && own < l && current.is_none_or(|c| own < c) {
            // We beat the announced leader: our own wave.
            self.start_wave(&group);
            return Ok(());
        }
        match current {
            Some(c) if l > c => return Ok(()), // stale: a lower challenger is under way
            Some(c) if l == c => {}
            _ => {
                // A LEADER without (or past) its ELECT: take the announced id.
                let mut w = Wave::new(l, None);
                w.echoed = true;
                self.elections.waves.insert(group.clone(), w);
            }
        }
        let Some(w) = self.elections.waves.get_mut(&group) else {
            return Ok(());
        };
        let relay = !w.relayed_leader;
        w.relayed_leader = true;
        w.decided = true;
        if relay {
            let msg = Message::Leader {
                group: group.clone(),
                leader: l.to_string(),
            };
            for id in self.groups.members(&group).collect::<Vec<_>>() {
                let _ = self.send(id, &msg);
            }
        }
        self.set_leader(&group, l);
        Ok(())
    }
}
