//! The test double (feature `sim`): [`ModelCache`], a page-cache model that counts what a
//! policy did to it. Public so other crates' tests can drive a policy without a guest model.

use crate::CacheControl;

/// A guest of `online` pages holding `used` pages of other memory and `cache` pages of page
/// cache; the rest is free. Reclaim frees cache pages, compaction is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCache {
    online: u64,
    used: u64,
    cache: u64,
    /// Pages freed by [`CacheControl::reclaim_cache`] and [`CacheControl::drop_caches`].
    pub freed: u64,
    /// Times [`CacheControl::compact`] ran.
    pub compactions: u64,
}

impl ModelCache {
    /// A guest with `online` pages, `used` of them other memory and `cache` page cache.
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
            freed: 0,
            compactions: 0,
        }
    }

    /// Adds `pages` of page cache from free memory (at most what is free); returns the pages
    /// added.
    pub fn fill_cache(&mut self, pages: u64) -> u64 {
        let n = pages.min(self.free_pages());
        self.cache += n;
        n
    }
}

impl CacheControl for ModelCache {
    fn online_pages(&self) -> u64 {
        self.online
    }
    fn free_pages(&self) -> u64 {
        self.online - self.used - self.cache
    }
    fn cache_pages(&self) -> u64 {
        self.cache
    }
    fn reclaim_cache(&mut self, pages: u64) -> u64 {
        let n = pages.min(self.cache);
        self.cache -= n;
        self.freed += n;
        n
    }
    fn drop_caches(&mut self) -> u64 {
        self.reclaim_cache(u64::MAX)
    }
    fn compact(&mut self) {
        self.compactions += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaim_frees_at_most_the_cache_and_fill_at_most_the_free() {
        let mut m = ModelCache::new(100, 10, 30);
        assert_eq!(m.free_pages(), 60);
        assert_eq!(m.reclaim_cache(20), 20);
        assert_eq!(m.reclaim_cache(20), 10);
        assert_eq!((m.cache_pages(), m.free_pages(), m.freed), (0, 90, 30));
        assert_eq!(m.fill_cache(1000), 90);
        assert_eq!(m.drop_caches(), 90);
        m.compact();
        assert_eq!(m.compactions, 1);
    }

    #[test]
    #[should_panic(expected = "do not fit")]
    fn an_impossible_model_is_refused() {
        let _ = ModelCache::new(10, 6, 5);
    }
}
