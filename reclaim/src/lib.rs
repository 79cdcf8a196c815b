//! hv-reclaim: guest page-cache reclaim policies as sans-IO state machines.
//!
//! Free page reporting returns only *free* memory to the host; page cache stays until
//! something in the guest reclaims it. This crate holds the policies that decide when and how
//! much: today WSL's guest-side reclaim thread (`autoMemoryReclaim`) in its two published
//! generations, as `host-side.md` §3.3 describes them. A policy reads the guest through the
//! small [`CacheControl`] trait and acts through it (reclaim N pages of cache, drop caches,
//! compact); time and CPU-busy time are arguments. It does no I/O, reads no clock and is
//! `no_std` + `alloc`, so the same code runs in the simulator (`hv-sim`, over its guest model),
//! in the tests (over [`sim::ModelCache`]) and in a guest agent (over `/proc` and cgroup
//! files). It is not a kernel driver and does not report free memory (that is `hv-reporting`).
//!
//! # WSL's reclaim thread
//!
//! Era 2026 (the July 2026 rework, the default): a tick every 10 s; idle when the CPU was busy
//! at most 0.5 % of the last interval and of a rolling 2-minute window (12 samples).
//! `dropcache` drops the page cache once per idle period; `gradual` reclaims cold file cache
//! above a 128 MB floor in steps of RAM/32 clamped to 256 MB … 1 GB; compaction runs on entering
//! idle and after every reclaim; `disabled` runs no thread at all.
//!
//! Era 2024: a tick every 30 s; idle windows of 10 minutes (dropcache) or 3 minutes (gradual);
//! `gradual` reclaims 3 % of in-use memory per tick while in-use is above 1 GiB (hysteresis
//! 1.0–1.1 GiB); compaction on every idle tick whatever the policy, whenever the reporting
//! order is not 0.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;

#[cfg(any(test, feature = "sim"))]
pub mod sim;

/// Nanoseconds per second (times are nanoseconds since boot).
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// WSL's `autoMemoryReclaim` modes (`host-side.md` §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum CachePolicy {
    /// No reclaim thread (and, in the 2026 code, no idle compaction).
    Disabled,
    /// After an idle window, drop the page cache once per idle period.
    #[default]
    Dropcache,
    /// While idle, reclaim cold file cache in bounded steps above a floor.
    Gradual,
}

impl CachePolicy {
    /// The policy's name as `.wslconfig` spells it (lower case).
    pub fn name(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Dropcache => "dropcache",
            Self::Gradual => "gradual",
        }
    }
}

/// Which generation of WSL's reclaim thread to model (`host-side.md` §3.3 eras B and C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub enum CacheEra {
    /// The 2024–mid-2026 code: 30 s polls, 10 min (dropcache) / 3 min (gradual) idle windows,
    /// `drop_caches=1`, gradual = 3 % of in-use per tick above 1 GiB, compaction on idle ticks
    /// whatever the policy.
    #[cfg_attr(feature = "serde", serde(rename = "2024"))]
    Y2024,
    /// The July 2026 rework: 10 s polls, 2-minute idle window, `drop_caches=3`, gradual = cold
    /// file cache above a 128 MB floor in steps of RAM/32 clamped to 256 MB..1 GB, compaction on
    /// entering idle and after each reclaim; `disabled` runs nothing.
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "2026"))]
    Y2026,
}

/// What a reclaim policy reads from the guest and does to it, in 4 KiB pages.
///
/// The simulator implements it over its guest model; a guest agent over `/proc/meminfo`,
/// the root cgroup's `memory.reclaim`, `drop_caches` and `compact_memory`.
pub trait CacheControl {
    /// Online RAM.
    fn online_pages(&self) -> u64;
    /// Free RAM.
    fn free_pages(&self) -> u64;
    /// Page cache (file-backed pages).
    fn cache_pages(&self) -> u64;
    /// Reclaims up to `pages` of page cache, coldest first; returns the pages freed.
    fn reclaim_cache(&mut self, pages: u64) -> u64;
    /// Drops the whole page cache (`drop_caches`); returns the pages freed.
    fn drop_caches(&mut self) -> u64;
    /// Compacts memory so that freed pages form whole (reportable) blocks.
    fn compact(&mut self);
}

const PAGE: u64 = 4096;
const MB: u64 = 1_000_000;
const GIB: u64 = 1 << 30;

/// What the thread did on a tick (for tests and counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// The tick judged the VM idle.
    pub idle: bool,
    /// Frames reclaimed or dropped.
    pub reclaimed: u64,
    /// Compaction ran.
    pub compacted: bool,
}

/// The reclaim thread.
#[derive(Debug, Clone)]
pub struct ReclaimThread {
    policy: CachePolicy,
    era: CacheEra,
    report_order: u8,
    next_tick: u64,
    last_busy_ns: u64,
    window: VecDeque<bool>,
    was_idle: bool,
    dropped_this_idle: bool,
    gradual_paused: bool,
}

impl ReclaimThread {
    /// A thread for `policy`/`era` starting at boot. `report_order` is the page-reporting order
    /// (the 2024 code skipped compaction when it was 0).
    pub fn new(policy: CachePolicy, era: CacheEra, report_order: u8) -> Self {
        Self {
            policy,
            era,
            report_order,
            next_tick: Self::period(era),
            last_busy_ns: 0,
            window: VecDeque::new(),
            was_idle: false,
            dropped_this_idle: false,
            gradual_paused: false,
        }
    }

    fn period(era: CacheEra) -> u64 {
        match era {
            CacheEra::Y2024 => 30 * NS_PER_SEC,
            CacheEra::Y2026 => 10 * NS_PER_SEC,
        }
    }

    fn window_len(&self) -> usize {
        match (self.era, self.policy) {
            (CacheEra::Y2026, _) => 12,
            (CacheEra::Y2024, CachePolicy::Gradual) => 6,
            (CacheEra::Y2024, _) => 20,
        }
    }

    /// Whether the thread runs at all.
    pub fn active(&self) -> bool {
        match self.era {
            CacheEra::Y2026 => self.policy != CachePolicy::Disabled,
            CacheEra::Y2024 => self.policy != CachePolicy::Disabled || self.report_order != 0,
        }
    }

    /// The next tick (`None` if the thread does not run).
    pub fn next_deadline(&self) -> Option<u64> {
        self.active().then_some(self.next_tick)
    }

    /// Runs the tick due at `now`. `busy_ns_total` is the CPU-busy time since boot.
    pub fn tick<G: CacheControl + ?Sized>(
        &mut self,
        now: u64,
        busy_ns_total: u64,
        guest: &mut G,
    ) -> TickOutcome {
        let period = Self::period(self.era);
        self.next_tick = now + period;
        let busy = busy_ns_total.saturating_sub(self.last_busy_ns);
        self.last_busy_ns = busy_ns_total;
        // 0.5 % of the interval (one CPU's worth; the model has one busy signal).
        let idle_sample = busy * 200 <= period;
        self.window.push_back(idle_sample);
        while self.window.len() > self.window_len() {
            self.window.pop_front();
        }
        let idle =
            idle_sample && self.window.len() == self.window_len() && self.window.iter().all(|&b| b);
        let mut out = TickOutcome {
            idle,
            ..TickOutcome::default()
        };
        if !idle {
            self.was_idle = false;
            self.dropped_this_idle = false;
            self.gradual_paused = false;
            return out;
        }
        let entering = !self.was_idle;
        self.was_idle = true;
        match self.era {
            CacheEra::Y2026 => {
                if entering {
                    out.compacted = true;
                    guest.compact();
                }
                match self.policy {
                    CachePolicy::Disabled => {}
                    CachePolicy::Dropcache => {
                        if !self.dropped_this_idle {
                            self.dropped_this_idle = true;
                            out.reclaimed = guest.drop_caches();
                        }
                    }
                    CachePolicy::Gradual => {
                        let ram = guest.online_pages() * PAGE;
                        let step = (ram / 32).clamp(256 * MB, 1000 * MB) / PAGE;
                        let floor = 128 * MB / PAGE;
                        let above = guest.cache_pages().saturating_sub(floor);
                        let n = above.min(step);
                        if n > 0 {
                            out.reclaimed = guest.reclaim_cache(n);
                        }
                    }
                }
                if out.reclaimed > 0 {
                    out.compacted = true;
                    guest.compact();
                }
            }
            CacheEra::Y2024 => {
                match self.policy {
                    CachePolicy::Disabled => {}
                    CachePolicy::Dropcache => {
                        if !self.dropped_this_idle {
                            self.dropped_this_idle = true;
                            out.reclaimed = guest.drop_caches();
                        }
                    }
                    CachePolicy::Gradual => {
                        let in_use = (guest.online_pages() - guest.free_pages()) * PAGE;
                        if self.gradual_paused && in_use > GIB + GIB / 10 {
                            self.gradual_paused = false;
                        }
                        if !self.gradual_paused && in_use > GIB {
                            let step = in_use * 3 / 100;
                            if in_use - step < GIB {
                                self.gradual_paused = true;
                            } else {
                                out.reclaimed = guest.reclaim_cache(step / PAGE);
                            }
                        }
                    }
                }
                if self.report_order != 0 {
                    out.compacted = true;
                    guest.compact();
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NS_PER_SEC;

    use crate::sim::ModelCache;
    use alloc::vec::Vec;

    /// A 2 GiB guest with 64 MiB of kernel memory and 1 GiB of page cache.
    fn guest_with_cache() -> ModelCache {
        ModelCache::new(524_288, 16_384, 262_144)
    }

    /// Ticks an idle thread from `t` for `n` ticks; returns the outcomes.
    fn idle_ticks(th: &mut ReclaimThread, g: &mut ModelCache, n: usize) -> Vec<TickOutcome> {
        (0..n)
            .map(|_| {
                let t = th.next_deadline().expect("thread runs");
                th.tick(t, 0, g)
            })
            .collect()
    }

    #[test]
    fn dropcache_2026_waits_two_minutes_then_drops_once() {
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Dropcache, CacheEra::Y2026, 9);
        let out = idle_ticks(&mut th, &mut g, 14);
        // 12 idle samples of 10 s are needed: the 12th tick (t = 120 s) drops.
        assert!(out[..11].iter().all(|o| !o.idle && o.reclaimed == 0));
        assert!(out[11].idle && out[11].reclaimed == 262_144 && out[11].compacted);
        assert!(
            out[12].idle && out[12].reclaimed == 0,
            "once per idle period"
        );
        assert_eq!(g.cache_pages(), 0);
    }

    #[test]
    fn busy_interval_restarts_the_window() {
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Dropcache, CacheEra::Y2026, 9);
        idle_ticks(&mut th, &mut g, 11);
        // One busy second in the next interval: not idle, and the window must refill.
        let t = th.next_deadline().expect("runs");
        assert!(!th.tick(t, S, &mut g).idle);
        for _ in 0..11 {
            let t = th.next_deadline().expect("runs");
            assert!(!th.tick(t, S, &mut g).idle);
        }
        let t = th.next_deadline().expect("runs");
        assert!(th.tick(t, S, &mut g).idle);
    }

    #[test]
    fn gradual_2026_steps_down_to_the_floor() {
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Gradual, CacheEra::Y2026, 9);
        let out = idle_ticks(&mut th, &mut g, 20);
        // RAM/32 = 64 MiB is clamped up to 256 MB: 62 500 pages per tick.
        assert_eq!(out[11].reclaimed, 62_500);
        let floor = 128 * MB / PAGE;
        assert_eq!(g.cache_pages(), floor);
        assert!(out.iter().all(|o| o.reclaimed <= 62_500));
    }

    #[test]
    fn disabled_2026_runs_nothing_but_2024_still_compacts() {
        let th = ReclaimThread::new(CachePolicy::Disabled, CacheEra::Y2026, 9);
        assert_eq!(th.next_deadline(), None);
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Disabled, CacheEra::Y2024, 9);
        let out = idle_ticks(&mut th, &mut g, 21);
        assert!(out[19].idle && out[19].compacted && out[19].reclaimed == 0);
        assert_eq!(g.cache_pages(), 262_144);
        assert_eq!(
            ReclaimThread::new(CachePolicy::Disabled, CacheEra::Y2024, 0).next_deadline(),
            None
        );
    }

    #[test]
    fn gradual_2024_takes_three_percent_of_in_use_until_one_gib() {
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Gradual, CacheEra::Y2024, 9);
        let out = idle_ticks(&mut th, &mut g, 40);
        assert!(out[..5].iter().all(|o| o.reclaimed == 0), "3-minute window");
        let in_use = (262_144 + 16_384) * PAGE;
        assert_eq!(out[5].reclaimed, in_use * 3 / 100 / PAGE);
        // It pauses once a step would go under 1 GiB in use.
        let left = (g.online_pages() - g.free_pages()) * PAGE;
        assert!((GIB..GIB + GIB / 30).contains(&left), "{left}");
    }
}
