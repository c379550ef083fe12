//! Entries by key, each with an optional expiry, and the expiries kept in order: refreshing
//! one, finding the next and taking those that ran out are O(log n), where a scan of every
//! entry was O(n) (a hub asked for its next deadline after each frame it handled). Used for a
//! gossip hub's tuples and for what an agent's gossip session has learned.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires: Option<Instant>,
}

/// A map from key to value where an entry may expire (`None`: never).
#[derive(Debug)]
pub(crate) struct Expiring<V> {
    entries: BTreeMap<String, Entry<V>>,
    by_expiry: BTreeSet<(Instant, String)>,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Expiring {
            entries: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }
}

impl<V> Expiring<V> {
    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// The value under `key`, to change (its expiry stays).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.get_mut(key).map(|e| &mut e.value)
    }

    /// Holds `value` under `key` until `expires`, replacing what was there.
    pub fn insert(&mut self, key: String, value: V, expires: Option<Instant>) {
        if let Some(at) = self.entries.get(&key).and_then(|e| e.expires) {
            self.by_expiry.remove(&(at, key.clone()));
        }
        if let Some(at) = expires {
            self.by_expiry.insert((at, key.clone()));
        }
        self.entries.insert(key, Entry { value, expires });
    }

    /// Moves `key`'s expiry to `expires` (nothing if `key` is not held).
    pub fn set_expiry(&mut self, key: &str, expires: Option<Instant>) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        let old = std::mem::replace(&mut e.expires, expires);
        if old == expires {
            return;
        }
        if let Some(at) = old {
            self.by_expiry.remove(&(at, key.to_string()));
        }
        if let Some(at) = expires {
            self.by_expiry.insert((at, key.to_string()));
        }
    }

    /// The earliest expiry of any entry.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|(at, _)| *at)
    }

    /// Takes one entry whose expiry is at or before `now` (earliest first).
    pub fn pop_expired(&mut self, now: Instant) -> Option<(String, V)> {
        if self.next_expiry()? > now {
            return None;
        }
        let (_, key) = self.by_expiry.pop_first()?;
        let e = self.entries.remove(&key)?;
        Some((key, e.value))
    }

    /// Every entry, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.entries.iter().map(|(k, e)| (k, &e.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn index_agrees<V>(m: &Expiring<V>) {
        let want: BTreeSet<(Instant, String)> = m
            .entries
            .iter()
            .filter_map(|(k, e)| e.expires.map(|at| (at, k.clone())))
            .collect();
        assert_eq!(m.by_expiry, want);
    }

    #[test]
    fn entries_expire_in_order_and_refreshes_move_them() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = Expiring::default();
        m.insert("a".into(), 1, Some(t0 + s(3)));
        m.insert("b".into(), 2, Some(t0 + s(1)));
        m.insert("c".into(), 3, None);
        index_agrees(&m);
        assert_eq!(m.next_expiry(), Some(t0 + s(1)));
        m.set_expiry("b", Some(t0 + s(5)));
        index_agrees(&m);
        assert_eq!(m.next_expiry(), Some(t0 + s(3)));
        // Replacing a value moves its expiry too, and a same-time neighbour keeps its own.
        m.insert("d".into(), 4, Some(t0 + s(3)));
        m.insert("a".into(), 10, Some(t0 + s(4)));
        index_agrees(&m);
        assert_eq!(m.pop_expired(t0 + s(2)), None);
        assert_eq!(m.pop_expired(t0 + s(4)), Some(("d".to_string(), 4)));
        assert_eq!(m.pop_expired(t0 + s(4)), Some(("a".to_string(), 10)));
        assert_eq!(m.pop_expired(t0 + s(4)), None);
        assert_eq!(m.pop_expired(t0 + s(5)), Some(("b".to_string(), 2)));
        index_agrees(&m);
        assert_eq!(m.next_expiry(), None);
        // Never-expiring entries stay.
        assert_eq!(m.pop_expired(t0 + s(1_000)), None);
        assert_eq!(m.get("c"), Some(&3));
        m.set_expiry("c", Some(t0 + s(1)));
        assert_eq!(m.pop_expired(t0 + s(1)), Some(("c".to_string(), 3)));
        assert_eq!(m.len(), 0);
        index_agrees(&m);
    }
}
