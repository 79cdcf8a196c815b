//! WSL's reclaim thread (`autoMemoryReclaim`), eras 2024 and 2026, as a state machine over
//! [`Sample`]s (see the crate documentation for what each era does).

use crate::{Action, CacheEra, CachePolicy, NS_PER_SEC, PAGE, Plan, Sample};
use alloc::collections::VecDeque;

const MB: u64 = 1_000_000;
const GIB: u64 = 1 << 30;

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

    /// Whether the last tick judged the VM idle.
    pub fn idle(&self) -> bool {
        self.was_idle
    }

    /// Runs the tick due at `s.now_ns`.
    pub fn step(&mut self, s: &Sample) -> Plan {
        let now = s.now_ns;
        let period = Self::period(self.era);
        self.next_tick = now + period;
        let mut plan = Plan::sleep(self.next_deadline());
        let busy = s.cpu_busy_ns.saturating_sub(self.last_busy_ns);
        self.last_busy_ns = s.cpu_busy_ns;
        // 0.5 % of the interval, of all CPUs together (the aggregate `cpu` line).
        let idle_sample = busy * 200 <= period * u64::from(s.cpus.max(1));
        self.window.push_back(idle_sample);
        while self.window.len() > self.window_len() {
            self.window.pop_front();
        }
        let idle =
            idle_sample && self.window.len() == self.window_len() && self.window.iter().all(|&b| b);
        if !idle {
            self.was_idle = false;
            self.dropped_this_idle = false;
            self.gradual_paused = false;
            return plan;
        }
        let entering = !self.was_idle;
        self.was_idle = true;
        match self.era {
            CacheEra::Y2026 => {
                if entering {
                    plan.push(Action::Compact);
                }
                let mut reclaims = false;
                match self.policy {
                    CachePolicy::Disabled => {}
                    CachePolicy::Dropcache => {
                        if !self.dropped_this_idle {
                            self.dropped_this_idle = true;
                            plan.push(Action::DropCaches { level: 3 });
                            reclaims = s.file > 0;
                        }
                    }
                    CachePolicy::Gradual => {
                        let step = (s.mem_total / 32).clamp(256 * MB, 1000 * MB) / PAGE;
                        let floor = 128 * MB / PAGE;
                        let above = (s.file / PAGE).saturating_sub(floor);
                        let n = above.min(step);
                        if n > 0 {
                            plan.push(Action::Reclaim {
                                bytes: n * PAGE,
                                swappiness: Some(0),
                                time_limit_ns: 0,
                            });
                            reclaims = true;
                        }
                    }
                }
                if reclaims {
                    plan.push(Action::Compact);
                }
            }
            CacheEra::Y2024 => {
                match self.policy {
                    CachePolicy::Disabled => {}
                    CachePolicy::Dropcache => {
                        if !self.dropped_this_idle {
                            self.dropped_this_idle = true;
                            plan.push(Action::DropCaches { level: 1 });
                        }
                    }
                    CachePolicy::Gradual => {
                        let in_use = s.mem_total.saturating_sub(s.mem_free);
                        if self.gradual_paused && in_use > GIB + GIB / 10 {
                            self.gradual_paused = false;
                        }
                        if !self.gradual_paused && in_use > GIB {
                            let step = in_use * 3 / 100;
                            if in_use - step < GIB {
                                self.gradual_paused = true;
                            } else {
                                plan.push(Action::Reclaim {
                                    bytes: step / PAGE * PAGE,
                                    swappiness: None,
                                    time_limit_ns: 0,
                                });
                            }
                        }
                    }
                }
                if self.report_order != 0 {
                    plan.push(Action::Compact);
                }
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ModelCache;
    use crate::{Reclaimer, apply};
    use alloc::vec::Vec;

    const S: u64 = NS_PER_SEC;

    /// What a tick did, as the old `tick` reported it.
    #[derive(Debug, Default, Clone, Copy)]
    struct Tick {
        idle: bool,
        reclaimed: u64,
        compacted: bool,
    }

    /// A 2 GiB guest with 64 MiB of kernel memory and 1 GiB of page cache.
    fn guest_with_cache() -> ModelCache {
        ModelCache::new(524_288, 16_384, 262_144)
    }

    fn tick(th: &mut ReclaimThread, t: u64, busy: u64, g: &mut ModelCache) -> Tick {
        g.busy_ns = busy;
        let plan = th.step(&g.sample(t));
        let mut out = Tick {
            idle: th.idle(),
            ..Tick::default()
        };
        for a in plan.actions() {
            let o = apply(a, g);
            out.reclaimed += o.freed / PAGE;
            out.compacted |= *a == Action::Compact;
        }
        out
    }

    /// Ticks an idle thread for `n` ticks; returns the outcomes.
    fn idle_ticks(th: &mut ReclaimThread, g: &mut ModelCache, n: usize) -> Vec<Tick> {
        (0..n)
            .map(|_| {
                let t = th.next_deadline().expect("thread runs");
                tick(th, t, 0, g)
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
        assert!(!tick(&mut th, t, S, &mut g).idle);
        for _ in 0..11 {
            let t = th.next_deadline().expect("runs");
            assert!(!tick(&mut th, t, S, &mut g).idle);
        }
        let t = th.next_deadline().expect("runs");
        assert!(tick(&mut th, t, S, &mut g).idle);
    }

    #[test]
    fn busy_is_measured_over_all_cpus() {
        // 0.4 s busy in 10 s is 4 % of one CPU but 0.5 % of eight: idle on eight.
        let mut g = guest_with_cache();
        let mut th = ReclaimThread::new(CachePolicy::Dropcache, CacheEra::Y2026, 9);
        let mut busy = 0;
        for _ in 0..12 {
            let t = th.next_deadline().expect("runs");
            busy += 4 * S / 10;
            g.busy_ns = busy;
            let mut s = g.sample(t);
            s.cpus = 8;
            th.step(&s);
        }
        assert!(th.idle());
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

    #[test]
    fn wsl_never_acts_on_a_machine_that_is_never_idle() {
        // 3 % busy for an hour: WSL's 2026 dropcache returns nothing.
        let mut g = guest_with_cache();
        let mut p = Reclaimer::new(
            crate::ReclaimMode::Wsl2026,
            CachePolicy::Dropcache,
            9,
            crate::OursConfig::default(),
        );
        while let Some(t) = p.next_deadline().filter(|&t| t <= 3600 * S) {
            g.busy_ns = t * 3 / 100;
            let s = g.sample(t);
            p.run(&s, &mut g);
        }
        assert_eq!(g.freed, 0);
    }
}
