//! Group membership: which peers are in which group, and the groups one peer is in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use smallvec::SmallVec;

use crate::PeerId;

/// Groups of remote peers, by name. Each name is kept once, shared (`Arc<str>`) with the
/// [`GroupSet`] of every peer in the group: a thousand peers in group "all" cost one string.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    members: BTreeMap<Arc<str>, BTreeSet<PeerId>>,
    /// Steps at every join and leave (a cache of members is good while it stands).
    version: u64,
}

impl Groups {
    /// Changes with every join and leave.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Adds `peer` to `group`: the shared name, and true when it was not a member before.
    pub fn join(&mut self, group: &str, peer: PeerId) -> (Arc<str>, bool) {
        self.version += 1;
        match self.members.get_key_value(group) {
            Some((name, _)) => {
                let name = name.clone();
                let new = self
                    .members
                    .get_mut(group)
                    .is_some_and(|set| set.insert(peer));
                (name, new)
            }
            None => {
                let name: Arc<str> = Arc::from(group);
                self.members.insert(name.clone(), BTreeSet::from([peer]));
                (name, true)
            }
        }
    }

    /// Removes `peer` from `group`; true when it was a member. Empty groups are forgotten.
    pub fn leave(&mut self, group: &str, peer: PeerId) -> bool {
        self.version += 1;
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
        self.members.keys().map(|k| &**k)
    }
}

/// The groups one peer is in ([`crate::PeerInfo::groups`]), in name order. The names are shared
/// with the node's other peers in the same group, and a peer in one group (the usual case) needs
/// no allocation of its own: a `BTreeSet<String>` took a tree node and a string per peer, about
/// 300 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GroupSet(SmallVec<[Arc<str>; 1]>);

impl GroupSet {
    /// No groups.
    pub fn new() -> Self {
        GroupSet(SmallVec::new())
    }

    /// Whether `group` is one of them.
    pub fn contains(&self, group: &str) -> bool {
        self.find(group).is_ok()
    }

    /// The shared name of `group`, if it is one of them.
    pub fn shared(&self, group: &str) -> Option<&Arc<str>> {
        // A peer is in a group or two: a scan, lengths first.
        self.0
            .iter()
            .find(|g| g.len() == group.len() && ***g == *group)
    }

    /// The names, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        self.0.iter().map(|g| &**g)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `group` (kept in name order); true when it was not there.
    pub fn insert(&mut self, group: Arc<str>) -> bool {
        match self.find(&group) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, group);
                true
            }
        }
    }

    /// Removes `group`; true when it was there.
    pub fn remove(&mut self, group: &str) -> bool {
        match self.find(group) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn find(&self, group: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|g| (**g).cmp(group))
    }
}

impl<'a> IntoIterator for &'a GroupSet {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Arc<str>>, fn(&'a Arc<str>) -> &'a str>;

    fn into_iter(self) -> Self::IntoIter {
        fn name(g: &Arc<str>) -> &str {
            g
        }
        self.0.iter().map(name as fn(&'a Arc<str>) -> &'a str)
    }
}

impl<S: AsRef<str>> FromIterator<S> for GroupSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = GroupSet::new();
        for g in iter {
            set.insert(Arc::from(g.as_ref()));
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_leave() {
        let mut g = Groups::default();
        let a = PeerId::from_bytes([1; 16]);
        let (name, new) = g.join("x", a);
        assert!(new);
        let (again, new) = g.join("x", a);
        assert!(!new);
        assert!(Arc::ptr_eq(&name, &again), "one shared name");
        assert_eq!(g.members("x").collect::<Vec<_>>(), vec![a]);
        assert!(g.leave("x", a));
        assert!(!g.leave("x", a));
        assert_eq!(g.names().count(), 0);
    }

    #[test]
    fn group_set_keeps_name_order_like_a_btreeset() {
        let names = ["m", "a", "z", "a", "k", ""];
        let mut set = GroupSet::new();
        let mut tree = BTreeSet::new();
        for n in names {
            assert_eq!(set.insert(Arc::from(n)), tree.insert(n));
        }
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            tree.iter().copied().collect::<Vec<_>>()
        );
        assert!(set.contains("k") && !set.contains("b"));
        assert!(set.remove("k") && !set.remove("k"));
        tree.remove("k");
        assert_eq!(
            (&set).into_iter().collect::<Vec<_>>(),
            tree.into_iter().collect::<Vec<_>>()
        );
        assert_eq!(set.len(), 4);
        assert_eq!(names.iter().collect::<GroupSet>().len(), 5);
    }
}
