//! The agent's gossip for the nodes of its machine: one ZGP client session per hub, whatever
//! the number of nodes that gossip through it. Each node that asks ([`super::RvMsg::Gossip`])
//! gets its tuple published in the sessions of its hubs, withdrawn when it leaves or dies; every
//! tuple a hub sends (but those of the machine's own nodes) goes to the nodes of that hub, again
//! each time the hub sends it again (a ryre hub forwards a tuple's refresh as a sign of life), and
//! a node that asks later gets what the session has learned so far and has not expired (a tuple
//! with a ttl is forgotten when it runs out unrefreshed, as the hub forgets it; ttl 0, Zyre's,
//! never expires). Sans-IO like the rest of the
//! agent: [`super::agent::AgentState`] drives it and turns its effects into outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::zgp::{Client, ClientConfig, Expiring, Tuple};
use crate::PeerId;

/// Most hub sessions one agent holds (requests for more hubs are ignored, counted).
pub const MAX_SESSIONS: usize = 64;
/// Most tuples remembered per hub session (for nodes that ask later; expired ones are forgotten
/// first); more are passed on to the nodes in session but not remembered.
pub const MAX_LEARNED: usize = 100_000;

/// What the gossip wants the agent to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Effect {
    /// Open a DEALER to this hub.
    Open(String),
    /// Send this ZGP frame to this hub.
    Send(String, Bytes),
    /// Close this hub's DEALER (after what was sent).
    Close(String),
    /// Tell this node about this tuple.
    Deliver(PeerId, Tuple),
}

struct Hub {
    client: Client,
    nodes: BTreeSet<PeerId>,
    /// What the hub sent, by key, until its ttl runs out unrefreshed.
    learned: Expiring<String>,
}

struct Request {
    hubs: Vec<String>,
    value: String,
}

/// The sessions and who asked for them.
#[derive(Default)]
pub(super) struct AgentGossip {
    hubs: BTreeMap<String, Hub>,
    requests: BTreeMap<PeerId, Request>,
    effects: Vec<Effect>,
    /// Hubs not opened because [`MAX_SESSIONS`] were open.
    pub refused_hubs: u64,
}

impl AgentGossip {
    /// The hubs in session and how many nodes gossip through each.
    pub fn sessions(&self) -> impl Iterator<Item = (&str, usize)> {
        self.hubs.iter().map(|(h, s)| (h.as_str(), s.nodes.len()))
    }

    /// Node `id` gossips through `hubs` with `value` (replacing what it asked before; no hubs:
    /// it stops gossiping).
    pub fn request(
        &mut self,
        now: Instant,
        id: PeerId,
        mut hubs: Vec<String>,
        value: String,
        ttl: Duration,
    ) {
        hubs.sort();
        hubs.dedup();
        let key = id.to_string();
        let old = self.requests.remove(&id);
        if let Some(old) = &old {
            for h in old.hubs.iter().filter(|h| !hubs.contains(h)) {
                self.leave_hub(h, id, &key);
            }
        }
        let mut kept = Vec::new();
        for h in hubs {
            if !self.hubs.contains_key(&h) {
                if self.hubs.len() >= MAX_SESSIONS {
                    self.refused_hubs += 1;
                    continue;
                }
                let mut client = Client::new(ClientConfig {
                    ttl,
                    ..ClientConfig::default()
                });
                client.start(now);
                self.effects.push(Effect::Open(h.clone()));
                self.hubs.insert(
                    h.clone(),
                    Hub {
                        client,
                        nodes: BTreeSet::new(),
                        learned: Expiring::default(),
                    },
                );
            }
            let Some(hub) = self.hubs.get_mut(&h) else {
                continue;
            };
            // A publish of an unchanged value only refreshes it at the hub.
            let unchanged = old
                .as_ref()
                .is_some_and(|o| o.value == value && o.hubs.contains(&h));
            if !unchanged {
                hub.client.publish(key.clone(), value.clone());
            }
            if hub.nodes.insert(id) {
                while hub.learned.pop_expired(now).is_some() {}
                for (k, v) in hub.learned.iter() {
                    self.effects.push(Effect::Deliver(
                        id,
                        Tuple {
                            key: k.clone(),
                            value: v.clone(),
                            ttl: 0,
                        },
                    ));
                }
            }
            kept.push(h);
        }
        if !kept.is_empty() {
            self.requests.insert(id, Request { hubs: kept, value });
        }
        self.pump();
    }

    /// Node `id` left or died: its tuple is withdrawn; a hub nobody gossips through any more is
    /// closed.
    pub fn remove(&mut self, id: PeerId) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        let key = id.to_string();
        for h in &req.hubs {
            self.leave_hub(h, id, &key);
        }
        self.pump();
    }

    fn leave_hub(&mut self, h: &str, id: PeerId, key: &str) {
        let Some(hub) = self.hubs.get_mut(h) else {
            return;
        };
        hub.client.withdraw_key(key);
        hub.nodes.remove(&id);
        if hub.nodes.is_empty() {
            let mut hub = self.hubs.remove(h).expect("present");
            while let Some(m) = hub.client.poll_transmit() {
                if let Ok(wire) = m.encode() {
                    self.effects
                        .push(Effect::Send(h.to_string(), Bytes::from(wire)));
                }
            }
            self.effects.push(Effect::Close(h.to_string()));
        }
    }

    /// A frame from hub `h`; `local` says whether a key is one of the machine's own nodes.
    pub fn on_frame(&mut self, now: Instant, h: &str, frame: &[u8], local: impl Fn(&str) -> bool) {
        let Some(hub) = self.hubs.get_mut(h) else {
            return;
        };
        if hub.client.handle_frame(now, frame).is_err() {
            return;
        }
        while let Some(t) = hub.client.poll_tuple() {
            if local(&t.key) {
                continue;
            }
            // A tuple the session already knows still goes to the nodes: a ryre hub sends one
            // again as the peer's sign of life (its refresh, once per a quarter of its ttl), so
            // a node that dropped the peer after a link fault takes it again, as a beacon would
            // make it (a node that still knows the peer does nothing with it).
            // Remembered until its ttl runs out unrefreshed (a ryre hub forgets it then too).
            let expires = (t.ttl > 0).then(|| now + Duration::from_millis(u64::from(t.ttl)));
            if hub.learned.get(&t.key) == Some(&t.value) {
                hub.learned.set_expiry(&t.key, expires);
            } else {
                while hub.learned.pop_expired(now).is_some() {}
                if hub.learned.len() < MAX_LEARNED || hub.learned.contains_key(&t.key) {
                    hub.learned.insert(t.key.clone(), t.value.clone(), expires);
                }
            }
            for n in &hub.nodes {
                self.effects.push(Effect::Deliver(*n, t.clone()));
            }
        }
        self.pump();
    }

    /// Time passed: PINGs and refreshes that are due; learned tuples that ran out are forgotten
    /// (at the session's next PING at the latest: no wake-up of their own).
    pub fn handle_timeout(&mut self, now: Instant) {
        for hub in self.hubs.values_mut() {
            hub.client.handle_timeout(now);
            while hub.learned.pop_expired(now).is_some() {}
        }
        self.pump();
    }

    /// When [`AgentGossip::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.hubs
            .values()
            .filter_map(|h| h.client.poll_timeout())
            .min()
    }

    /// What to do, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn pump(&mut self) {
        for (h, hub) in &mut self.hubs {
            while let Some(m) = hub.client.poll_transmit() {
                if let Ok(wire) = m.encode() {
                    self.effects
                        .push(Effect::Send(h.clone(), Bytes::from(wire)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zgp::Message;

    fn sent(effects: &[Effect]) -> Vec<(String, Message)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(h, f) => Some((h.clone(), Message::decode(f).unwrap())),
                _ => None,
            })
            .collect()
    }

    fn publish(key: &str, value: &str, ttl: u32) -> Message {
        Message::Publish(Tuple {
            key: key.into(),
            value: value.into(),
            ttl,
        })
    }

    #[test]
    fn one_session_per_hub_for_every_node_and_withdrawal_on_leave() {
        let now = Instant::now();
        let ttl = Duration::from_secs(3);
        let mut g = AgentGossip::default();
        let (a, b) = (PeerId::from_bytes([1; 16]), PeerId::from_bytes([2; 16]));
        g.request(now, a, vec!["tcp://h:1".into()], "tcp://a:1".into(), ttl);
        let e = g.take_effects();
        assert_eq!(e[0], Effect::Open("tcp://h:1".into()));
        assert_eq!(
            sent(&e),
            vec![
                ("tcp://h:1".into(), Message::Hello),
                (
                    "tcp://h:1".into(),
                    publish(&a.to_string(), "tcp://a:1", 3000)
                ),
            ]
        );
        // The hub tells of a remote node and (back) of a: only the remote one goes to a.
        let remote = "ABABABABABABABABABABABABABABABAB";
        let local = |k: &str| k == a.to_string() || k == b.to_string();
        let frame = publish(remote, "tcp://r:1", 0).encode().unwrap();
        g.on_frame(now, "tcp://h:1", &frame, local);
        let frame = publish(&a.to_string(), "tcp://a:1", 3000).encode().unwrap();
        g.on_frame(now, "tcp://h:1", &frame, local);
        let e = g.take_effects();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(matches!(&e[0], Effect::Deliver(n, t) if *n == a && t.key == remote));
        // b joins the same hub: no second session, its tuple in the same one, and it is told
        // what the session learned.
        g.request(now, b, vec!["tcp://h:1".into()], "tcp://b:1".into(), ttl);
        let e = g.take_effects();
        assert!(!e.iter().any(|x| matches!(x, Effect::Open(_))));
        assert_eq!(
            sent(&e),
            vec![(
                "tcp://h:1".into(),
                publish(&b.to_string(), "tcp://b:1", 3000)
            )]
        );
        assert!(e
            .iter()
            .any(|x| matches!(x, Effect::Deliver(n, t) if *n == b && t.key == remote)));
        assert_eq!(g.sessions().collect::<Vec<_>>(), vec![("tcp://h:1", 2)]);
        // a leaves: withdrawn (ttl 1); b stays in session.
        g.remove(a);
        assert_eq!(
            sent(&g.take_effects()),
            vec![("tcp://h:1".into(), publish(&a.to_string(), "tcp://a:1", 1))]
        );
        // An INVALID (the hub restarted): HELLO and b's tuple again, not a's.
        let later = now + Duration::from_secs(1);
        g.on_frame(
            later,
            "tcp://h:1",
            &Message::Invalid.encode().unwrap(),
            local,
        );
        assert_eq!(
            sent(&g.take_effects()),
            vec![
                ("tcp://h:1".into(), Message::Hello),
                (
                    "tcp://h:1".into(),
                    publish(&b.to_string(), "tcp://b:1", 3000)
                ),
            ]
        );
        // b leaves: withdrawn, then the session closes.
        g.remove(b);
        let e = g.take_effects();
        assert_eq!(
            sent(&e),
            vec![("tcp://h:1".into(), publish(&b.to_string(), "tcp://b:1", 1))]
        );
        assert_eq!(e.last(), Some(&Effect::Close("tcp://h:1".into())));
        assert_eq!(g.sessions().count(), 0);
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_changed_request_moves_the_tuple() {
        let now = Instant::now();
        let ttl = Duration::from_secs(3);
        let mut g = AgentGossip::default();
        let a = PeerId::from_bytes([1; 16]);
        let b = PeerId::from_bytes([2; 16]);
        g.request(now, b, vec!["tcp://h:1".into()], "tcp://b:1".into(), ttl);
        g.request(now, a, vec!["tcp://h:1".into()], "tcp://a:1".into(), ttl);
        g.take_effects();
        // Same request again: nothing new sent (the refreshes keep it).
        g.request(now, a, vec!["tcp://h:1".into()], "tcp://a:1".into(), ttl);
        assert!(sent(&g.take_effects()).is_empty());
        // Another hub: withdrawn from the first, published at the second.
        g.request(now, a, vec!["tcp://h:2".into()], "tcp://a:1".into(), ttl);
        let s = sent(&g.take_effects());
        assert!(s.contains(&("tcp://h:1".into(), publish(&a.to_string(), "tcp://a:1", 1))));
        assert!(s.contains(&(
            "tcp://h:2".into(),
            publish(&a.to_string(), "tcp://a:1", 3000)
        )));
        // No hubs: it stops gossiping, and the second hub's session closes.
        g.request(now, a, vec![], String::new(), ttl);
        assert!(g
            .take_effects()
            .contains(&Effect::Close("tcp://h:2".into())));
        assert_eq!(g.sessions().collect::<Vec<_>>(), vec![("tcp://h:1", 1)]);
        // PINGs are due on the session that is left.
        let due = g.poll_timeout().unwrap();
        g.handle_timeout(due);
        assert_eq!(
            sent(&g.take_effects()),
            vec![("tcp://h:1".into(), Message::Ping)]
        );
    }

    #[test]
    fn a_node_that_asks_later_is_not_told_of_tuples_that_ran_out() {
        let now = Instant::now();
        let ttl = Duration::from_secs(3);
        let ms = Duration::from_millis;
        let mut g = AgentGossip::default();
        let (a, b, c) = (
            PeerId::from_bytes([1; 16]),
            PeerId::from_bytes([2; 16]),
            PeerId::from_bytes([3; 16]),
        );
        g.request(now, a, vec!["tcp://h:1".into()], "tcp://a:1".into(), ttl);
        let local = |_: &str| false;
        let (dead, live, zyre) = (
            "ABABABABABABABABABABABABABABABAB",
            "CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD",
            "EFEFEFEFEFEFEFEFEFEFEFEFEFEFEFEF",
        );
        for (k, ttl) in [(dead, 3000), (live, 3000), (zyre, 0)] {
            let frame = publish(k, "tcp://r:1", ttl).encode().unwrap();
            g.on_frame(now, "tcp://h:1", &frame, local);
        }
        // `live` is refreshed (the hub forwards its refresh); `dead` is not.
        let frame = publish(live, "tcp://r:1", 3000).encode().unwrap();
        g.on_frame(now + ms(2_000), "tcp://h:1", &frame, local);
        g.take_effects();
        let told = |g: &mut AgentGossip, n: PeerId| -> Vec<String> {
            g.take_effects()
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Deliver(to, t) if to == n => Some(t.key),
                    _ => None,
                })
                .collect()
        };
        // Before `dead` runs out, a node that asks is told of all three.
        g.request(
            now + ms(2_999),
            b,
            vec!["tcp://h:1".into()],
            "tcp://b:1".into(),
            ttl,
        );
        assert_eq!(told(&mut g, b), vec![dead, live, zyre]);
        // After it: not of `dead` (forgotten at the next PING, or when a node asks); the
        // never-expiring Zyre tuple stays.
        g.handle_timeout(now + ms(3_000));
        g.take_effects();
        g.request(
            now + ms(3_000),
            c,
            vec!["tcp://h:1".into()],
            "tcp://c:1".into(),
            ttl,
        );
        assert_eq!(told(&mut g, c), vec![live, zyre]);
    }
}
