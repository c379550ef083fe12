//! Leader elections in groups (Zyre's ELECT/LEADER echo algorithm). Placeholder, filled in below.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::node::NodeState;
use crate::PeerId;

/// Election state of every contested group.
#[derive(Debug, Default)]
pub(crate) struct Elections {
    contested: BTreeSet<String>,
}

impl Elections {
    pub fn contest(&mut self, group: &str) {
        self.contested.insert(group.to_string());
    }
    pub fn own_leave(&mut self, _group: &str) {}
    pub fn peer_gone(&mut self, _id: PeerId) {}
}

impl NodeState {
    pub(crate) fn elections_on_own_join(&mut self, _now: Instant, _group: &str) {}
    pub(crate) fn elections_on_peer_join(&mut self, _now: Instant, _from: PeerId, _group: &str) {}
    pub(crate) fn on_elect(&mut self, _from: PeerId, _group: String, _challenger: String) {}
    pub(crate) fn on_leader(&mut self, _from: PeerId, _group: String, _leader: String) {}
}
