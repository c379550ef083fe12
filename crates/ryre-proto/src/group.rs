//! Group membership: which peers are in which group.

use std::collections::{BTreeMap, BTreeSet};

use crate::PeerId;

/// Groups of remote peers, by name.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    members: BTreeMap<String, BTreeSet<PeerId>>,
}

impl Groups {
    /// Adds `peer` to `group`; true when it was not a member before.
    pub fn join(&mut self, group: &str, peer: PeerId) -> bool {
        match self.members.get_mut(group) {
            Some(set) => set.insert(peer),
            None => {
                self.members
                    .insert(group.to_string(), BTreeSet::from([peer]));
                true
            }
        }
    }

    /// Removes `peer` from `group`; true when it was a member. Empty groups are forgotten.
    pub fn leave(&mut self, group: &str, peer: PeerId) -> bool {
        let Some(set) = self.members.get_mut(group) else {
            return false;
        };
        let was = set.remove(&peer);
        if set.is_empty() {
            self.members.remove(group);
        }
        was
    }

    /// The members of `group` (empty when nobody is in it).
    pub fn members(&self, group: &str) -> impl Iterator<Item = PeerId> + '_ {
        self.members.get(group).into_iter().flatten().copied()
    }

    /// Names of all groups that have at least one remote member.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave() {
        let mut g = Groups::default();
        let a = PeerId::from_bytes([1; 16]);
        assert!(g.join("x", a));
        assert!(!g.join("x", a));
        assert_eq!(g.members("x").collect::<Vec<_>>(), vec![a]);
        assert!(g.leave("x", a));
        assert!(!g.leave("x", a));
        assert_eq!(g.names().count(), 0);
    }
}
