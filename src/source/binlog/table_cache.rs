//! [`RecentMap`]: the binlog stream's caches of table maps (by table id) and
//! schemas (by table), bounded by recency.
//!
//! A server gives a table a new id after DDL (and when it leaves the table
//! definition cache), and tables get dropped and renamed, so a cache that
//! only grows holds every id and table the stream ever saw. A row event's
//! table map comes just before it, in the same statement, so an entry not
//! seen for many table-map events is never needed again as it stands (if its
//! id comes back, its map is read again). The map keeps each entry's last
//! use; once it holds more than its bound, the entries not used in the last
//! half-bound uses are dropped in one pass (amortised O(1) per insert). A
//! statement would have to map more than half the bound's tables to lose one.

use std::collections::HashMap;
use std::hash::Hash;

/// Entries kept before the stale ones are dropped.
pub(crate) const TABLE_CACHE_BOUND: usize = 4096;

/// A map whose entries not used recently are dropped past a size bound.
#[derive(Debug)]
pub(crate) struct RecentMap<K, V> {
    map: HashMap<K, (V, u64)>,
    /// Uses so far (gets that found an entry, and inserts).
    clock: u64,
    bound: usize,
}

impl<K: Eq + Hash, V> Default for RecentMap<K, V> {
    fn default() -> Self {
        Self::with_bound(TABLE_CACHE_BOUND)
    }
}

impl<K: Eq + Hash, V> RecentMap<K, V> {
    /// An empty map keeping about `bound` entries (at least 2).
    pub(crate) fn with_bound(bound: usize) -> Self {
        RecentMap {
            map: HashMap::new(),
            clock: 0,
            bound: bound.max(2),
        }
    }

    /// The entry for `key`, marked as used.
    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        let (v, used) = self.map.get_mut(key)?;
        self.clock += 1;
        *used = self.clock;
        Some(v)
    }

    /// Inserts or replaces the entry for `key`; past the bound, drops the
    /// entries not used in the last half-bound uses.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.clock += 1;
        let now = self.clock;
        self.map.insert(key, (value, now));
        if self.map.len() > self.bound {
            let keep_after = now.saturating_sub((self.bound / 2) as u64);
            self.map.retain(|_, (_, used)| *used > keep_after);
        }
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_not_used_recently_are_dropped_past_the_bound() {
        let mut m = RecentMap::with_bound(8);
        for id in 0..8u64 {
            m.insert(id, id * 10);
        }
        assert_eq!(m.len(), 8);
        // 0 and 1 are used again (a table mapped in every transaction).
        assert_eq!(m.get(&0), Some(&0));
        assert_eq!(m.get(&1), Some(&10));
        // A ninth table (a new id after DDL): the stale ones go.
        m.insert(100, 1000);
        assert!(m.len() <= 5, "{}", m.len());
        assert_eq!(m.get(&100), Some(&1000));
        assert_eq!(m.get(&0), Some(&0));
        assert_eq!(m.get(&1), Some(&10));
        assert_eq!(m.get(&2), None, "not used for a while: dropped");
    }

    #[test]
    fn a_stream_of_new_ids_stays_bounded() {
        // Every DDL gives a table a new id: the cache never grows past its bound.
        let mut m = RecentMap::with_bound(64);
        for id in 0..100_000u64 {
            m.insert(id, ());
            // The statement's own table maps are always there for its rows.
            assert!(m.get(&id).is_some());
            assert!(m.len() <= 64);
        }
    }
}
