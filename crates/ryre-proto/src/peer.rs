//! One remote peer as the heart sees it: link sequence numbers, status, liveness deadlines.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use crate::{GroupSet, PeerId};

/// How alive a peer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    /// Heard from within the evasive timeout.
    Alive,
    /// Silent past the evasive timeout: pinged, EVASIVE reported.
    Evasive,
    /// Still silent one reap interval after being evasive: SILENT reported.
    Silent,
}

impl PeerState {
    /// Lower-case name, as used in JSON and the bridge.
    pub fn as_str(&self) -> &'static str {
        match self {
            PeerState::Alive => "alive",
            PeerState::Evasive => "evasive",
            PeerState::Silent => "silent",
        }
    }
}

/// What the application may know of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's id.
    pub id: PeerId,
    /// Its name from HELLO (empty before HELLO).
    pub name: Arc<str>,
    /// Its inbox endpoint.
    pub endpoint: String,
    /// Its headers from HELLO.
    pub headers: BTreeMap<String, String>,
    /// The groups it is in (names shared with the node's other peers).
    pub groups: GroupSet,
    /// Liveness.
    pub state: PeerState,
    /// Whether it has said HELLO (only ready peers are reported to the application).
    pub ready: bool,
}

/// A peer's link state.
#[derive(Debug)]
pub(crate) struct Peer {
    pub info: PeerInfo,
    /// Sequence of the last message we sent on our DEALER to it.
    pub sent_sequence: u16,
    /// Sequence of the last message we accepted from it.
    pub want_sequence: u16,
    /// Its status byte as we have tracked it.
    pub status: u8,
    /// When we last heard from it (deadlines count from here; refreshing is one store).
    pub heard_at: Instant,
    /// While evasive or silent: when to ping again (and, from evasive, turn silent).
    pub next_ping_at: Instant,
    /// Whether the keep-alive PING (half-way to evasive) went out since we last heard from it.
    pub pinged: bool,
    /// Not before this time will a lost HELLO be asked for again.
    pub resync_after: Option<Instant>,
    /// Another party vouches for its liveness (the machine's agent holds its registration, or it
    /// lives in this process): no keep-alive, never evasive or expired; its departure is
    /// reported by that party.
    pub supervised: bool,
    /// The time of this peer's live entry in the node's deadline index (none: not indexed).
    /// Other entries for it there are stale and skipped.
    pub timer_at: Option<Instant>,
    /// The key its endpoint is indexed under in the node's endpoint index.
    pub endpoint_key: u64,
    /// Certified mode: our status byte as this peer has seen it. Our HELLO carries no groups
    /// there; each group the peer may know of reaches it as a JOIN once it is admitted, so the
    /// count is per peer.
    pub status_out: u8,
    /// Certified mode: the peer was admitted and told our groups (JOIN and LEAVE now reach it).
    pub announced: bool,
    /// We sent it something besides HELLO and PING: a stopping node waits for its PING-OK (see
    /// [`crate::node::Config::stop_flush`]).
    pub unflushed: bool,
    /// Whether it is in its table's fresh list ([`PeerTable::fresh_place`]), and its neighbours
    /// there (slots; [`NIL`]: none).
    pub fresh: bool,
    pub fresh_prev: u32,
    pub fresh_next: u32,
}

/// No slot (the ends of the fresh list).
pub(crate) const NIL: u32 = u32::MAX;

impl Peer {
    pub fn new(id: PeerId, endpoint: String, now: Instant, evasive: Duration) -> Self {
        let endpoint_key = endpoint_key(&endpoint);
        Peer {
            info: PeerInfo {
                id,
                name: Arc::from(""),
                endpoint,
                headers: BTreeMap::new(),
                groups: GroupSet::new(),
                state: PeerState::Alive,
                ready: false,
            },
            sent_sequence: 0,
            want_sequence: 0,
            status: 0,
            heard_at: now,
            next_ping_at: now + evasive,
            pinged: false,
            resync_after: None,
            supervised: false,
            timer_at: None,
            endpoint_key,
            status_out: 0,
            announced: false,
            unflushed: false,
            fresh: false,
            fresh_prev: NIL,
            fresh_next: NIL,
        }
    }

    /// Whether its deadline is the keep-alive half-way to evasive (alive, not pinged since it
    /// was last heard, not supervised): such a peer is kept in the fresh list, in the order it
    /// was heard, rather than in the deadline heap.
    pub fn is_fresh(&self) -> bool {
        self.info.state == PeerState::Alive && !self.pinged && !self.supervised
    }

    /// Heard from the peer: it is alive again.
    pub fn refresh(&mut self, now: Instant) {
        self.heard_at = now;
        self.pinged = false;
        self.info.state = PeerState::Alive;
    }

    /// When this peer next needs attention, given the evasive and expired timeouts (never, for
    /// a supervised peer).
    pub fn deadline(&self, evasive: Duration, expired: Duration) -> Option<Instant> {
        if self.supervised {
            return None;
        }
        Some(match self.info.state {
            PeerState::Alive if !self.pinged => self.heard_at + evasive / 2,
            PeerState::Alive => self.heard_at + evasive,
            _ => self.next_ping_at.min(self.heard_at + expired),
        })
    }
}

/// The key an endpoint is indexed under: a fixed-seed hash (the same on every run, so the heart
/// stays deterministic). Collisions are harmless: lookups compare the endpoints themselves.
pub(crate) fn endpoint_key(endpoint: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x7279_7265).hash_one(endpoint)
}

/// The endpoint index: the peers' slots in the [`PeerTable`] by the key of their endpoint
/// ([`endpoint_key`]), so a new peer finds any other peer at its endpoint without a scan. One
/// hash map from key to a slot (nearly every key has one), and the rare others under a key
/// already taken (two peers at one endpoint for a moment, or two endpoints whose keys collide)
/// in a tree beside it: one hash probe per lookup and per insertion where a tree of (key, id)
/// pairs walked its levels twice, each level a cache miss at 1,000 peers a node. Slots, not
/// ids: 16-byte buckets (a map to ids took 24 and more memory than the tree did).
#[derive(Debug)]
pub(crate) struct EndpointIndex {
    first: HashMap<u64, u32, FixedState>,
    more: BTreeSet<(u64, u32)>,
}

impl EndpointIndex {
    pub fn with_hasher(hasher: FixedState) -> Self {
        EndpointIndex {
            first: HashMap::with_hasher(hasher),
            more: BTreeSet::new(),
        }
    }

    /// The slots indexed under `key` (in no particular order).
    pub fn at(&self, key: u64) -> SmallVec<[u32; 2]> {
        let mut out = SmallVec::new();
        let Some(&slot) = self.first.get(&key) else {
            return out;
        };
        out.push(slot);
        if !self.more.is_empty() {
            out.extend(self.more_at(key).map(|&(_, other)| other));
        }
        out
    }

    fn more_at(&self, key: u64) -> impl Iterator<Item = &(u64, u32)> {
        self.more.range((key, 0)..=(key, u32::MAX))
    }

    /// Indexes `slot` under `key` (nothing when it is there already).
    pub fn insert(&mut self, key: u64, slot: u32) {
        match self.first.entry(key) {
            Entry::Vacant(v) => {
                v.insert(slot);
            }
            Entry::Occupied(o) => {
                if *o.get() != slot {
                    self.more.insert((key, slot));
                }
            }
        }
    }

    /// Takes `slot` out from under `key` (nothing when it is not there).
    pub fn remove(&mut self, key: u64, slot: u32) {
        match self.first.get(&key) {
            Some(&first) if first == slot => {
                let next = self.more_at(key).next().copied();
                match next {
                    Some(pair) => {
                        self.more.remove(&pair);
                        self.first.insert(key, pair.1);
                    }
                    None => {
                        self.first.remove(&key);
                    }
                }
            }
            Some(_) => {
                self.more.remove(&(key, slot));
            }
            None => {}
        }
    }

    pub fn clear(&mut self) {
        self.first.clear();
        self.more.clear();
    }

    /// Every (key, slot) pair (for checks).
    #[cfg(test)]
    pub fn pairs(&self) -> BTreeSet<(u64, u32)> {
        self.first
            .iter()
            .map(|(&k, &slot)| (k, slot))
            .chain(self.more.iter().copied())
            .collect()
    }
}

/// The node's peers: the [`Peer`]s in a slab, an id -> slot index beside them. A hash map of
/// whole peers (192 bytes each) kept up to twice as many slots as peers (999 peers need 2,048
/// buckets): about 200 bytes per peer wasted, 190 MiB at 1,000 nodes. Iteration goes by the index,
/// so its order is the one the hash map of peers had.
///
/// Beside them, the fresh list: the peers whose deadline is `heard_at + evasive / 2`
/// ([`Peer::is_fresh`]: nearly every peer, nearly all the time), linked through their slots in
/// (`heard_at`, id) order, so in deadline order. Hearing from such a peer moves it to the back
/// (O(1): time only goes forward), where a heap of deadlines moved an entry down per message.
#[derive(Debug)]
pub(crate) struct PeerTable {
    index: HashMap<PeerId, u32, FixedState>,
    slots: Vec<Option<Peer>>,
    free: Vec<u32>,
    fresh_head: u32,
    fresh_tail: u32,
    /// When the first of the fresh list was heard (none: the list is empty): the heart's next
    /// deadline is asked for after every input, and reading it from the first peer's slot was a
    /// cache miss per beacon at 1,000 peers a node.
    fresh_head_heard: Option<Instant>,
    /// Steps at every insertion and removal (slots taken from a cache are good while it stands).
    version: u64,
}

impl PeerTable {
    pub fn with_hasher(hasher: FixedState) -> Self {
        PeerTable {
            index: HashMap::with_hasher(hasher),
            slots: Vec::new(),
            free: Vec::new(),
            fresh_head: NIL,
            fresh_tail: NIL,
            fresh_head_heard: None,
            version: 0,
        }
    }

    /// Changes with every insertion and removal.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// `id`'s slot.
    pub fn slot(&self, id: &PeerId) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The peer in slot `i` (a slot [`PeerTable::slot`] gave, while the peer is there).
    pub fn at(&self, i: u32) -> &Peer {
        self.slots[i as usize].as_ref().expect("a peer's slot")
    }

    /// The peer in slot `i`, if there is one.
    pub fn get_at(&self, i: u32) -> Option<&Peer> {
        self.slots.get(i as usize)?.as_ref()
    }

    /// The peer in slot `i`, to change (see [`PeerTable::at`]).
    pub fn at_mut(&mut self, i: u32) -> &mut Peer {
        self.slots[i as usize].as_mut().expect("a peer's slot")
    }

    /// The first peer of the fresh list (the earliest heard): its slot.
    pub fn fresh_first(&self) -> Option<u32> {
        (self.fresh_head != NIL).then_some(self.fresh_head)
    }

    /// When the first peer of the fresh list was heard (its `heard_at`, kept beside the list).
    pub fn fresh_first_heard(&self) -> Option<Instant> {
        debug_assert_eq!(
            self.fresh_head_heard,
            self.fresh_first().map(|i| self.at(i).heard_at)
        );
        self.fresh_head_heard
    }

    /// Makes slot `i` (or [`NIL`]) the first of the fresh list.
    fn set_fresh_head(&mut self, i: u32) {
        self.fresh_head = i;
        self.fresh_head_heard = (i != NIL).then(|| self.at(i).heard_at);
    }

    /// Takes slot `i`'s peer out of the fresh list (nothing when it is not in it).
    pub fn fresh_unlink(&mut self, i: u32) {
        let p = self.at_mut(i);
        if !p.fresh {
            return;
        }
        let (prev, next) = (p.fresh_prev, p.fresh_next);
        p.fresh = false;
        p.fresh_prev = NIL;
        p.fresh_next = NIL;
        match prev {
            NIL => self.set_fresh_head(next),
            _ => self.at_mut(prev).fresh_next = next,
        }
        match next {
            NIL => self.fresh_tail = prev,
            _ => self.at_mut(next).fresh_prev = prev,
        }
    }

    /// Puts slot `i`'s peer in the fresh list at its place by (`heard_at`, id) (moved there
    /// if it was in it already): found from the back, which is where a peer just heard goes.
    pub fn fresh_place(&mut self, i: u32) {
        let (heard, id, fresh, next) = {
            let p = self.at(i);
            (p.heard_at, p.info.id, p.fresh, p.fresh_next)
        };
        // Whether the peer in slot `j` goes before this one.
        let before = |t: &PeerTable, j: u32| {
            let q = t.at(j);
            q.heard_at < heard || (q.heard_at == heard && q.info.id < id)
        };
        if fresh && next == NIL {
            // Already last: still in order unless the one before it is later.
            let prev = self.at(i).fresh_prev;
            if prev == NIL {
                // The only one: first, heard now.
                self.fresh_head_heard = Some(heard);
                return;
            }
            if before(self, prev) {
                return;
            }
        }
        self.fresh_unlink(i);
        let mut after = self.fresh_tail;
        while after != NIL && !before(self, after) {
            after = self.at(after).fresh_prev;
        }
        let next = match after {
            NIL => self.fresh_head,
            _ => self.at(after).fresh_next,
        };
        let p = self.at_mut(i);
        p.fresh = true;
        p.fresh_prev = after;
        p.fresh_next = next;
        match after {
            NIL => self.set_fresh_head(i),
            _ => self.at_mut(after).fresh_next = i,
        }
        match next {
            NIL => self.fresh_tail = i,
            _ => self.at_mut(next).fresh_prev = i,
        }
    }

    /// The fresh list's slots, first to last (for checks).
    #[cfg(test)]
    pub fn fresh_slots(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = self.fresh_head;
        while i != NIL {
            out.push(i);
            i = self.at(i).fresh_next;
        }
        out
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn contains_key(&self, id: &PeerId) -> bool {
        self.index.contains_key(id)
    }

    pub fn get(&self, id: &PeerId) -> Option<&Peer> {
        let i = *self.index.get(id)?;
        self.slots[i as usize].as_ref()
    }

    pub fn get_mut(&mut self, id: &PeerId) -> Option<&mut Peer> {
        let i = *self.index.get(id)?;
        self.slots[i as usize].as_mut()
    }

    /// Adds or replaces `id`'s peer; returns the one it replaced.
    pub fn insert(&mut self, id: PeerId, mut peer: Peer) -> Option<Peer> {
        self.version += 1;
        peer.fresh = false;
        peer.fresh_prev = NIL;
        peer.fresh_next = NIL;
        if let Some(&i) = self.index.get(&id) {
            self.fresh_unlink(i);
            return self.slots[i as usize].replace(peer);
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(peer);
                i
            }
            None => {
                self.slots.push(Some(peer));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(id, i);
        None
    }

    pub fn remove(&mut self, id: &PeerId) -> Option<Peer> {
        let i = *self.index.get(id)?;
        self.version += 1;
        self.fresh_unlink(i);
        self.index.remove(id);
        let peer = self.slots[i as usize].take();
        if self.index.is_empty() {
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(i);
        }
        peer
    }

    pub fn keys(&self) -> impl Iterator<Item = &PeerId> {
        self.index.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &Peer> {
        self.index
            .values()
            .filter_map(|&i| self.slots[i as usize].as_ref())
    }

    /// Every peer, in slot order (not the index's).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        self.slots.iter_mut().flatten()
    }
}

impl std::ops::Index<&PeerId> for PeerTable {
    type Output = Peer;

    fn index(&self, id: &PeerId) -> &Peer {
        self.get(id).expect("a known peer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_index_keeps_every_pair_under_a_shared_key() {
        let mut ix = EndpointIndex::with_hasher(FixedState::with_seed(1));
        let mut want = BTreeSet::new();
        // Three under key 7 (inserted out of order), one under 9, one inserted twice.
        for (key, slot) in [(7, 2), (7, 0), (9, 3), (7, 1), (7, 0)] {
            ix.insert(key, slot);
            want.insert((key, slot));
            assert_eq!(ix.pairs(), want);
        }
        let mut at7 = ix.at(7).to_vec();
        at7.sort_unstable();
        assert_eq!(at7, vec![0, 1, 2]);
        assert_eq!(ix.at(9).to_vec(), vec![3]);
        assert!(ix.at(8).is_empty());
        // Removing the one in the map promotes another; removing absent pairs does nothing.
        for (key, slot) in [(7, 2), (7, 3), (8, 0), (7, 0), (7, 1)] {
            ix.remove(key, slot);
            want.remove(&(key, slot));
            assert_eq!(ix.pairs(), want);
        }
        assert!(ix.at(7).is_empty());
        ix.clear();
        assert!(ix.pairs().is_empty());
    }
}
