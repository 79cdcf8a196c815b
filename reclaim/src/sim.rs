//! The test double (feature `sim`): [`ModelCache`], a page-cache model that counts what a
//! policy did to it and answers with [`Sample`]s. Public so other crates' tests can drive a
//! policy without a guest model.

use crate::{ActError, CacheControl, Outcome, PAGE, Sample};

/// A guest of `online` pages holding `used` pages of other memory and `cache` pages of page
/// cache, `hot` of which are the working set (the active list); the rest is free. Reclaim
/// takes cold cache first, then hot; hot pages reclaimed come back as refaults on
/// [`ModelCache::reread_hot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    online: u64,
    used: u64,
    cache: u64,
    hot: u64,
    hot_target: u64,
    /// Pages freed by reclaim and drop.
    pub freed: u64,
    /// Times compaction ran.
    pub compactions: u64,
    /// Hot pages read back after eviction (`workingset_refault_file`).
    pub refaults: u64,
    /// CPU busy time, ns (the tests set it).
    pub busy_ns: u64,
    /// PSI memory `some` total, µs (the tests set it).
    pub psi_us: u64,
    /// The error the next reclaim returns (after freeing nothing), once.
    pub fail_next: Option<ActError>,
}

impl ModelCache {
    /// A guest with `online` pages, `used` of them other memory and `cache` page cache (all
    /// cold).
    ///
    /// # Panics
    /// If `used + cache` exceeds `online` (a model that cannot exist).
    #[must_use]
    pub fn new(online: u64, used: u64, cache: u64) -> Self {
        assert!(
            used.checked_add(cache).is_some_and(|t| t <= online),
            "ModelCache: {used} used + {cache} cache pages do not fit in {online}"
        );
        Self {
            online,
            used,
            cache,
            hot: 0,
            hot_target: 0,
            freed: 0,
            compactions: 0,
            refaults: 0,
            busy_ns: 0,
            psi_us: 0,
            fail_next: None,
        }
    }

    /// Online pages.
    pub fn online_pages(&self) -> u64 {
        self.online
    }
    /// Free pages.
    pub fn free_pages(&self) -> u64 {
        self.online - self.used - self.cache
    }
    /// Page-cache pages.
    pub fn cache_pages(&self) -> u64 {
        self.cache
    }
    /// Hot (active) page-cache pages.
    pub fn hot_pages(&self) -> u64 {
        self.hot
    }

    /// Adds `pages` of cold page cache from free memory (at most what is free); returns the
    /// pages added.
    pub fn fill_cache(&mut self, pages: u64) -> u64 {
        let n = pages.min(self.free_pages());
        self.cache += n;
        n
    }

    /// Declares `pages` of the cache the hot working set (taken from cold cache, then free
    /// memory).
    pub fn set_hot(&mut self, pages: u64) {
        let from_free = pages.saturating_sub(self.cache).min(self.free_pages());
        self.cache += from_free;
        self.hot = pages.min(self.cache);
        self.hot_target = self.hot;
    }

    /// The workload reads its hot set again: every hot page that was reclaimed is a refault.
    /// Returns the refaults.
    pub fn reread_hot(&mut self) -> u64 {
        let missing = self.hot_target - self.hot;
        let n = missing.min(self.free_pages());
        self.hot += n;
        self.cache += n;
        self.refaults += n;
        n
    }

    /// The sample at `now` (ns).
    pub fn sample(&self, now: u64) -> Sample {
        Sample {
            now_ns: now,
            mem_total: self.online * PAGE,
            mem_free: self.free_pages() * PAGE,
            file: self.cache * PAGE,
            active_file: self.hot * PAGE,
            inactive_file: (self.cache - self.hot) * PAGE,
            refault_pages: self.refaults,
            psi_some_total_us: self.psi_us,
            psi_some_avg10: 0,
            cpu_busy_ns: self.busy_ns,
            cpus: 1,
            cold_file: None,
            lru_gen: false,
            kept_pages: 0,
            own_cpu_ns: 0,
        }
    }

    fn take(&mut self, pages: u64) -> u64 {
        let n = pages.min(self.cache);
        let cold = self.cache - self.hot;
        self.hot -= n.saturating_sub(cold);
        self.cache -= n;
        self.freed += n;
        n
    }
}

impl CacheControl for ModelCache {
    fn reclaim(&mut self, bytes: u64, _swappiness: Option<u8>, _limit: u64) -> Outcome {
        if let Some(e) = self.fail_next.take() {
            return Outcome {
                error: Some(e),
                ..Outcome::default()
            };
        }
        let want = bytes / PAGE;
        let n = self.take(want);
        Outcome {
            freed: n * PAGE,
            elapsed_ns: 0,
            error: (n < want).then_some(ActError::Short),
        }
    }
    fn drop_caches(&mut self, _level: u8) -> Outcome {
        let n = self.take(u64::MAX);
        Outcome {
            freed: n * PAGE,
            ..Outcome::default()
        }
    }
    fn compact(&mut self) -> Outcome {
        self.compactions += 1;
        Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaim_frees_at_most_the_cache_and_fill_at_most_the_free() {
        let mut m = ModelCache::new(100, 10, 30);
        assert_eq!(m.free_pages(), 60);
        assert_eq!(m.reclaim(20 * PAGE, Some(0), 0).freed, 20 * PAGE);
        let short = m.reclaim(20 * PAGE, Some(0), 0);
        assert_eq!(
            (short.freed, short.error),
            (10 * PAGE, Some(ActError::Short))
        );
        assert_eq!((m.cache_pages(), m.free_pages(), m.freed), (0, 90, 30));
        assert_eq!(m.fill_cache(1000), 90);
        assert_eq!(m.drop_caches(3).freed, 90 * PAGE);
        m.compact();
        assert_eq!(m.compactions, 1);
    }

    #[test]
    fn hot_pages_go_last_and_come_back_as_refaults() {
        let mut m = ModelCache::new(100, 10, 30);
        m.set_hot(10);
        m.reclaim(25 * PAGE, None, 0);
        assert_eq!((m.cache_pages(), m.hot_pages()), (5, 5));
        assert_eq!(m.reread_hot(), 5);
        assert_eq!((m.refaults, m.sample(0).active_file), (5, 10 * PAGE));
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn an_impossible_model_is_refused() {
        let _ = ModelCache::new(10, 6, 5);
    }
}
