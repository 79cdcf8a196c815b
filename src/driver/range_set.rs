//! A set of page frames stored as disjoint, coalesced half-open ranges.
//!
//! Used by the driver to remember exactly which frames it has given to the host, and by the
//! simulated host as its ledger.

use alloc::collections::BTreeMap;

/// Disjoint, coalesced `[start, end)` frame ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end (exclusive). Invariant: ranges are disjoint and not adjacent.
    map: BTreeMap<u64, u64>,
    pages: u64,
}

impl RangeSet {
    /// An empty set.
    pub const fn new() -> Self {
        Self {
            map: BTreeMap::new(),
            pages: 0,
        }
    }

    /// Total frames in the set.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Number of disjoint ranges.
    pub fn ranges(&self) -> usize {
        self.map.len()
    }

    /// True if no frame is in the set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Iterates the ranges as `(start, end)` in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }

    /// Frames of `[start, end)` already in the set.
    pub fn overlap(&self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let mut n = 0;
        for (&s, &e) in self.map.range(..end).rev() {
            if e <= start {
                break;
            }
            n += e.min(end) - s.max(start);
        }
        n
    }

    /// True if every frame of `[start, end)` is in the set.
    pub fn contains_all(&self, start: u64, end: u64) -> bool {
        start >= end || self.overlap(start, end) == end - start
    }

    /// True if `pfn` is in the set.
    pub fn contains(&self, pfn: u64) -> bool {
        self.map
            .range(..=pfn)
            .next_back()
            .is_some_and(|(_, &e)| e > pfn)
    }

    /// Adds `[start, end)`; returns how many frames were newly added (frames already present
    /// are not counted twice).
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let already = self.overlap(start, end);
        let (mut s, mut e) = (start, end);
        // Merge with a predecessor that overlaps or touches.
        if let Some((&ps, &pe)) = self.map.range(..=s).next_back() {
            if pe >= s {
                s = ps;
                e = e.max(pe);
                self.map.remove(&ps);
            }
        }
        // Merge with successors that start at or before the end.
        while let Some((&ns, &ne)) = self.map.range(s..=e).next() {
            e = e.max(ne);
            self.map.remove(&ns);
        }
        self.map.insert(s, e);
        let added = (end - start) - already;
        self.pages += added;
        added
    }

    /// Removes the part of `[start, end)` that is in the set, calling `f(piece_start,
    /// piece_end)` for every removed piece (descending order). Returns frames removed.
    pub fn remove(&mut self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) -> u64 {
        if start >= end {
            return 0;
        }
        let mut removed = 0;
        let mut cursor = end;
        while let Some((&s, &e)) = self.map.range(..cursor).next_back() {
            if e <= start {
                break;
            }
            self.map.remove(&s);
            if s < start {
                self.map.insert(s, start);
            }
            if e > end {
                self.map.insert(end, e);
            }
            let (a, b) = (s.max(start), e.min(end));
            removed += b - a;
            f(a, b);
            if s <= start {
                break;
            }
            cursor = s;
        }
        self.pages -= removed;
        removed
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.pages = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn insert_merges_and_counts() {
        let mut s = RangeSet::new();
        assert_eq!(s.insert(10, 20), 10);
        assert_eq!(s.insert(20, 30), 10);
        assert_eq!(s.ranges(), 1);
        assert_eq!(s.insert(5, 15), 5);
        assert_eq!(s.insert(40, 50), 10);
        assert_eq!(s.insert(0, 100), 100 - 35);
        assert_eq!(s.pages(), 100);
        assert_eq!(s.ranges(), 1);
    }

    #[test]
    fn remove_splits() {
        let mut s = RangeSet::new();
        s.insert(0, 100);
        s.insert(200, 300);
        let mut pieces = Vec::new();
        assert_eq!(s.remove(50, 250, |a, b| pieces.push((a, b))), 100);
        assert_eq!(pieces, [(200, 250), (50, 100)]);
        assert_eq!(s.iter().collect::<Vec<_>>(), [(0, 50), (250, 300)]);
        assert_eq!(s.pages(), 100);
        assert_eq!(s.remove(1000, 2000, |_, _| panic!()), 0);
        assert!(s.contains(0) && !s.contains(50) && s.contains(299) && !s.contains(300));
        assert!(s.contains_all(250, 300) && !s.contains_all(249, 300));
    }

    proptest::proptest! {
        #[test]
        fn matches_a_bitmap(ops in proptest::collection::vec((0u64..64, 0u64..64, proptest::bool::ANY), 0..60)) {
            let mut s = RangeSet::new();
            let mut bits = [false; 128];
            for (a, len, ins) in ops {
                let (a, b) = (a, a + len);
                if ins {
                    let newly = (a..b).filter(|&i| !bits[i as usize]).count() as u64;
                    proptest::prop_assert_eq!(s.insert(a, b), newly);
                    for i in a..b { bits[i as usize] = true; }
                } else {
                    let had = (a..b).filter(|&i| bits[i as usize]).count() as u64;
                    proptest::prop_assert_eq!(s.remove(a, b, |_, _| {}), had);
                    for i in a..b { bits[i as usize] = false; }
                }
                proptest::prop_assert_eq!(s.pages(), bits.iter().filter(|&&b| b).count() as u64);
                for i in 0..128u64 { proptest::prop_assert_eq!(s.contains(i), bits[i as usize]); }
            }
        }
    }
}
