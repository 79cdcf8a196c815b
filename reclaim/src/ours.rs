//! Our policy: give the cold page cache back continuously, never the hot working set.
//!
//! WSL waits for the CPU to be idle and then drops everything (or reclaims in 256 MB–1 GB
//! steps); on a machine that is never idle it returns nothing, and when it does act it throws
//! hot cache away with the cold. Meta's Senpai/TMO drives `memory.reclaim` continuously from a
//! PSI target, and Kata's mem-agent reclaims on a timer gated by PSI; both look only at
//! pressure, which shows up *after* the working set was hurt. This policy reads what the
//! kernel already knows about the working set and uses pressure and refaults as the brake:
//!
//! * **what is cold**: the inactive file list (`memory.stat` `inactive_file`) less what was
//!   read in the last [`OursConfig::cold_age_ns`], or with MGLRU the file pages in generations
//!   older than that. The active list is the hot working set and forms the **floor** (on the
//!   classic LRU with what the kernel moved off it to the inactive list over the last two cold
//!   ages, `pgrefill`: our steps make it do that once the inactive list is the smaller), plus
//!   the young part of the inactive list (at least a small reserve) and [`OursConfig::floor`]
//!   at least.
//! * **young pages**: a page read once sits on the inactive list until its second read; a hot
//!   set read for the first time looks exactly like cold data until then, and the kernel's
//!   reclaim takes the oldest inactive pages first. So the policy estimates how much file cache
//!   came in over the last [`OursConfig::cold_age_ns`] (growth of `file` plus what it reclaimed
//!   itself, from a ring of [`YOUNG_SLOTS`] samples) and leaves that much inactive cache:
//!   what it reclaims is older than the window, data re-read within it is never touched.
//!   On MGLRU the window is longer while the machine is in use,
//!   [`OursConfig::mglru_young_ns`]: the kernel protects a page read again through `read()`
//!   only once it has been read four or five times (its reference count saturates), so a hot
//!   set re-read every 20 s goes with the cold cache for its first 80-100 s.
//!   (Cache other reclaimers freed is not seen as inflow: under memory pressure the estimate is
//!   low, when the kernel reclaims anyway.)
//! * **small bounded steps**: every [`OursConfig::interval_ns`] at most one `memory.reclaim`
//!   write of `step` bytes (`swappiness=0`: file cache only), `step` doubling from
//!   [`OursConfig::step_min`] to [`OursConfig::step_max`] while nothing goes wrong, each write
//!   with a hard time limit ([`OursConfig::time_limit_ns`]).
//! * **back off on refaults**: evicted file pages read again (`workingset_refault_file`) mean a
//!   step reached the working set: the step falls back to the minimum, the hot set (the
//!   active list, which the kernel refills with the refaulted pages) plus twice the refaulted
//!   bytes becomes the floor (the whole cache when the active list is unknown), held for a
//!   hold time that doubles on every repeat (up to [`OursConfig::hold_max_ns`]) and then
//!   lowered by [`OursConfig::probe_step`] per cold age.
//! * **MGLRU** (Linux 6.1+, on by default in Debian's 6.12 and 7.x): its generations age only when
//!   something reclaims, and a page read again through `read()` stays in the generation it was
//!   added to, so the ages do not tell a hot set from cold data. Two kernel signals do: after a
//!   step of ours the kernel counts the pages it moved out of the way because they were used again
//!   (`pgrefill`): more than [`OursConfig::kept_slack`] of them, at least 16 times what the step
//!   freed (give or take that slack) and three quarters (but not more than twice) of what is left
//!   mean that what is left is in use (the kernel went through it and kept it), and so do refaults
//!   after a step; either way what is left is the floor, held like a refault. To make that stop
//!   early, a step larger than [`OursConfig::bite`] (8 MiB) is taken a bite at a time, each
//!   followed by a sample (sooner, at the step's rate): at most one bite goes into the working set.
//!   And while the kernel keeps at least as much as it frees for our steps, it is still sorting
//!   pages added to its oldest generation, hot and cold alike (7.3 keeps 3–23 times the step there
//!   and lets part of a hot set re-read every 20 s go with the cold): then at most
//!   [`OursConfig::sort_rate`] (16 MiB) per interval, until it keeps nothing of the cold; and after
//!   a bite it kept 16 times as much for (but less than three quarters of what is left), the next
//!   bite waits a cold age (verdict `watch`): reclaim is among pages in use, and the refaults of
//!   any it let go show before the next bite.
//! * **back off on pressure**: PSI memory `some` above [`OursConfig::psi_limit_ppm`] over the
//!   last interval (not counting the agent's own reclaim time, which the kernel also counts as
//!   a stall) or in `avg10`: no reclaim this interval, minimum step.
//! * **stale hot set**: an active list that has not been touched for long is no longer hot,
//!   but the kernel does not age it without pressure. After a hold time without refaults the
//!   floor is lowered into the active list (on MGLRU, below the learned floor, what was left
//!   at the last hit) by [`OursConfig::probe_step`] per cold age, so that a probe into the hot
//!   set costs at most one step: the first refault (or, on MGLRU, pages the kernel keeps)
//!   ends the probe.
//! * **idle**: when the CPUs have been idle (on average ≤ [`OursConfig::idle_busy_ppm`], the
//!   agent's own CPU time, which includes the kernel's reclaim in its writes, left out) over
//!   the last [`OursConfig::idle_ns`] (1 minute, half of WSL's window; the steps stop at the
//!   first sample whose minute is busy, where `dropcache` throws everything away at once),
//!   nobody is using the cache: the floor drops to zero and every step is four times the
//!   maximum (what `dropcache` would return, in steps).
//! * **compaction**: after [`OursConfig::compact_bytes`] were freed (at most once per
//!   [`OursConfig::compact_min_ns`]), and once when reclaim has caught up, so that freed
//!   memory forms 2 MiB blocks that free page reporting can return.

use crate::{ActError, Action, NS_PER_SEC, Outcome, Plan, Sample};

const MIB: u64 = 1 << 20;

/// Samples of the cache inflow kept for the young-page estimate (one per
/// [`OursConfig::cold_age_ns`] / 8 at most: the ring spans four cold ages, the longest
/// window it answers for; see [`OursConfig::mglru_young_ns`]).
pub const YOUNG_SLOTS: usize = 32;

/// Marks of the CPU time kept for the idle test (one per interval, or
/// [`OursConfig::idle_ns`] / 16 if longer: the ring spans at least two idle windows).
pub const BUSY_SLOTS: usize = 32;

/// Time-stamped values of a running count, at least a spacing apart, the oldest overwritten:
/// the windows of the young-cache estimate and of the idle test.
#[derive(Debug, Clone)]
struct Marks<const N: usize> {
    ring: [(u64, u64); N],
    len: usize,
    head: usize,
}

impl<const N: usize> Marks<N> {
    const fn new() -> Self {
        Self {
            ring: [(0, 0); N],
            len: 0,
            head: 0,
        }
    }

    /// Records `(t, v)` unless the newest mark is less than `spacing` older; whether it did.
    fn push(&mut self, t: u64, v: u64, spacing: u64) -> bool {
        if !self.due(t, spacing) {
            return false;
        }
        self.ring[self.head] = (t, v);
        self.head = (self.head + 1) % N;
        self.len = (self.len + 1).min(N);
        true
    }

    /// Whether a mark at `t` would be at least `spacing` after the newest.
    fn due(&self, t: u64, spacing: u64) -> bool {
        self.newest_first()
            .next()
            .is_none_or(|(t0, _)| t.saturating_sub(t0) >= spacing)
    }

    /// The marks, newest first.
    fn newest_first(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.len).map(|i| self.ring[(self.head + N - 1 - i) % N])
    }

    fn oldest(&self) -> Option<(u64, u64)> {
        self.newest_first().last()
    }

    /// The newest mark at least `window` before `now`.
    fn at_least(&self, now: u64, window: u64) -> Option<(u64, u64)> {
        let cutoff = now.checked_sub(window)?;
        self.newest_first().find(|&(t, _)| t <= cutoff)
    }

    fn is_full(&self) -> bool {
        self.len == N
    }
}

/// The knobs of [`Ours`]. [`OursConfig::default`] is the production setting;
/// [`OursConfig::scaled`] divides every time by a factor (the CI version of the QEMU proof).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OursConfig {
    /// Time between samples.
    pub interval_ns: u64,
    /// Smallest reclaim step (and the step after any trouble).
    pub step_min: u64,
    /// Largest step; 0 = RAM/64 clamped to 32 MiB … 256 MiB.
    pub step_max: u64,
    /// MGLRU: largest single reclaim write. A step larger than this is taken in bites of
    /// this size, each followed by a sample (sooner than [`OursConfig::interval_ns`], so the
    /// rate is the step's), so that the kernel's `pgrefill` after each bite can stop reclaim
    /// at the first bite into the working set. 0 = whole steps.
    pub bite: u64,
    /// MGLRU: the rate (bytes per interval, in bites) while the kernel keeps at least as much
    /// as it frees for our steps (it is still sorting the cache by use).
    pub sort_rate: u64,
    /// Page cache never taken below this while the machine is in use.
    pub floor: u64,
    /// Inactive file cache left above the active list.
    pub inactive_reserve: u64,
    /// Stall fraction (PSI memory `some`, parts per million) above which reclaim pauses.
    pub psi_limit_ppm: u64,
    /// Refaults up to this many bytes per interval are noise.
    pub refault_slack: u64,
    /// MGLRU: pages kept by the kernel's reclaim (`pgrefill`) up to this many bytes per
    /// interval are noise.
    pub kept_slack: u64,
    /// First protection time after refaults (doubles on every repeat).
    pub hold_ns: u64,
    /// Longest protection time.
    pub hold_max_ns: u64,
    /// How far per [`OursConfig::cold_age_ns`] the floor goes into a stale active list (or
    /// below a learned floor) after a hold time.
    pub probe_step: u64,
    /// CPU busy fraction (ppm of all CPUs, on average over [`OursConfig::idle_ns`]) at or
    /// below which the machine is idle.
    pub idle_busy_ppm: u64,
    /// Idle over this long and the floor drops to zero.
    pub idle_ns: u64,
    /// Compact after this much was freed.
    pub compact_bytes: u64,
    /// At most one compaction per this long.
    pub compact_min_ns: u64,
    /// Hard time limit of one reclaim step.
    pub time_limit_ns: u64,
    /// `swappiness=` of the reclaim writes (0: file cache only).
    pub swappiness: Option<u8>,
    /// File pages read within this long are not cold (MGLRU: generations older than this
    /// are cold; classic LRU: the inactive list less what came in within it).
    pub cold_age_ns: u64,
    /// MGLRU, machine in use: file cache that came in within this long is young (at least
    /// [`OursConfig::cold_age_ns`], at most four of them, the span of the inflow ring). MGLRU
    /// protects a page read again through `read()` only once its reference count saturates,
    /// at its fourth or fifth read: on Debian's 6.12 the kernel kept a 640 MiB hot set re-read
    /// every 20 s from our steps 110 s after it was read in, but 105 s after it let 49-57 MiB
    /// of it go (refaulted 20 s later). Three cold ages: 90 s.
    pub mglru_young_ns: u64,
}

impl Default for OursConfig {
    fn default() -> Self {
        Self {
            interval_ns: 5 * NS_PER_SEC,
            step_min: 8 * MIB,
            step_max: 0,
            bite: 8 * MIB,
            sort_rate: 16 * MIB,
            floor: 32 * MIB,
            inactive_reserve: 16 * MIB,
            psi_limit_ppm: 1000,
            refault_slack: MIB,
            kept_slack: 8 * MIB,
            hold_ns: 15 * 60 * NS_PER_SEC,
            hold_max_ns: 2 * 3600 * NS_PER_SEC,
            probe_step: 4 * MIB,
            idle_busy_ppm: 5000,
            idle_ns: 60 * NS_PER_SEC,
            compact_bytes: 64 * MIB,
            compact_min_ns: 30 * NS_PER_SEC,
            time_limit_ns: NS_PER_SEC,
            swappiness: Some(0),
            cold_age_ns: 30 * NS_PER_SEC,
            mglru_young_ns: 90 * NS_PER_SEC,
        }
    }
}

impl OursConfig {
    /// The default with every time divided by `factor` (≥ 1); the per-step time limit stays.
    pub fn scaled(factor: u64) -> Self {
        let f = factor.max(1);
        let d = Self::default();
        Self {
            interval_ns: d.interval_ns / f,
            hold_ns: d.hold_ns / f,
            hold_max_ns: d.hold_max_ns / f,
            idle_ns: d.idle_ns / f,
            compact_min_ns: d.compact_min_ns / f,
            cold_age_ns: d.cold_age_ns / f,
            mglru_young_ns: d.mglru_young_ns / f,
            ..d
        }
    }
}

/// What the last step decided (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// First sample, or the clock did not advance: nothing to compare with.
    #[default]
    Baseline,
    /// Reclaimed a step.
    Reclaim,
    /// The cache is at the floor.
    AtFloor,
    /// Refaults: backed off.
    Refaults,
    /// MGLRU kept pages in use out of the way of the last step: the floor is reached.
    InUse,
    /// MGLRU went through pages in use for the last bite (more than 16 times what it freed),
    /// though much is left: no reclaim for a cold age, so that refaults show before the next.
    Watch,
    /// Memory pressure: backed off.
    Pressure,
}

/// The policy's state.
#[derive(Debug, Clone)]
pub struct Ours {
    cfg: OursConfig,
    next: u64,
    last: Option<Sample>,
    step: u64,
    /// The floor learned from refaults: the cache size when the working set was hit.
    learned: u64,
    /// How far the floor goes into the active list.
    probe: u64,
    /// The active list is protected until then.
    quiet_until: u64,
    hold: u64,
    /// The CPUs were idle over the last [`OursConfig::idle_ns`] (as of the last sample).
    idle: bool,
    /// (time, CPU time of everything but us, summed over spans) at the end of each span of at
    /// least an interval (and [`OursConfig::idle_ns`] / 16), oldest overwritten: the idle
    /// test's window.
    busy_marks: Marks<BUSY_SLOTS>,
    /// The CPU counters at the last mark: (all busy, ours), ns.
    busy_at_mark: Option<(u64, u64)>,
    /// CPU time of everything but us since the first sample, span by span (ns).
    other_busy: u64,
    freed_since_compact: u64,
    last_compact: Option<u64>,
    own_stall_ns: u64,
    verdict: Verdict,
    /// File cache that came in since the first sample (bytes, estimated).
    inflow: u64,
    /// Reclaimed by our own actions since the last sample (the inflow estimate adds it back;
    /// the kernel's `pgrefill` since then is ours).
    freed_since_sample: u64,
    /// (time, `inflow`) every [`OursConfig::cold_age_ns`] / 8 at most, oldest overwritten.
    inflow_marks: Marks<YOUNG_SLOTS>,
    /// Bytes that came in within the young window (as of the last sample).
    young: u64,
    /// MGLRU: what the kernel went through (freed plus kept) per byte our last step freed,
    /// in eighths (8 = it freed all it looked at).
    scan_cost_x8: u64,
    /// When the step last doubled (it grows at most once per interval, bites or not).
    grown_at: u64,
    /// MGLRU: no reclaim before then (a bite made the kernel go through pages in use; the
    /// next bite waits until refaults would show).
    watch_until: u64,
    /// MGLRU: when the floor may next go a bite further into what it protects.
    next_probe: u64,
    /// Classic LRU: the largest active file list seen in the last cold age (bytes, when).
    active_peak: (u64, u64),
    /// Classic LRU: (time, `pgrefill` pages) every [`OursConfig::cold_age_ns`] / 8 at most.
    refill_marks: Marks<YOUNG_SLOTS>,
    /// Classic LRU: active pages the kernel moved to the inactive list in the last two cold
    /// ages (bytes).
    deactivated: u64,
    /// A reclaim step freed (next to) nothing: (cache left, until when). What is left is
    /// caught up with until the cache grows or a cold age has passed.
    stuck: Option<(u64, u64)>,
}

impl Ours {
    /// The policy, first sample one interval after boot.
    pub fn new(cfg: OursConfig) -> Self {
        Self {
            cfg,
            next: cfg.interval_ns,
            last: None,
            step: cfg.step_min,
            learned: 0,
            probe: 0,
            quiet_until: cfg.hold_ns,
            hold: cfg.hold_ns,
            idle: false,
            busy_marks: Marks::new(),
            busy_at_mark: None,
            other_busy: 0,
            freed_since_compact: 0,
            last_compact: None,
            own_stall_ns: 0,
            verdict: Verdict::Baseline,
            inflow: 0,
            freed_since_sample: 0,
            inflow_marks: Marks::new(),
            young: 0,
            scan_cost_x8: 8,
            grown_at: 0,
            watch_until: 0,
            next_probe: 0,
            active_peak: (0, 0),
            refill_marks: Marks::new(),
            deactivated: 0,
            stuck: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OursConfig {
        &self.cfg
    }

    /// When the next sample is due.
    pub fn next_deadline(&self) -> Option<u64> {
        Some(self.next)
    }

    /// What the last step decided.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The current step size, bytes.
    pub fn step_bytes(&self) -> u64 {
        self.step
    }

    /// File cache that came in within the last [`OursConfig::cold_age_ns`] (on MGLRU, while
    /// the machine is in use, [`OursConfig::mglru_young_ns`]), as of the last sample (bytes,
    /// estimated; never reclaimed while the machine is in use).
    pub fn young_bytes(&self) -> u64 {
        self.young
    }

    /// The window of [`Self::young_bytes`] for `s`.
    fn young_window(&self, s: &Sample) -> u64 {
        let age = self.cfg.cold_age_ns;
        if s.lru_gen && !self.idle {
            self.cfg.mglru_young_ns.clamp(age, age.saturating_mul(4))
        } else {
            age
        }
    }

    /// Counts the cache that came in since `last` and updates [`Self::young_bytes`].
    fn track_inflow(&mut self, last: &Sample, s: &Sample, freed: u64) {
        let came = (s.file + freed).saturating_sub(last.file);
        self.inflow = self.inflow.saturating_add(came);
        let now = s.now_ns;
        self.inflow_marks
            .push(now, self.inflow, (self.cfg.cold_age_ns / 8).max(1));
        // The newest mark at least a window old; none: everything since the first sample
        // (or, with the ring overwritten, since its oldest mark) is young.
        let marks = &self.inflow_marks;
        let base = marks
            .at_least(now, self.young_window(s))
            .or_else(|| marks.oldest().filter(|_| marks.is_full()))
            .map_or(0, |(_, v)| v);
        self.young = self.inflow - base;
    }

    /// Classic LRU: counts the active pages the kernel moved to the inactive list
    /// (`pgrefill`) over the last two cold ages, for [`Self::active_hot`].
    fn track_deactivated(&mut self, s: &Sample) {
        if s.lru_gen {
            self.deactivated = 0;
            return;
        }
        let now = s.now_ns;
        let marks = &mut self.refill_marks;
        marks.push(now, s.kept_pages, (self.cfg.cold_age_ns / 8).max(1));
        // None a window old: since the first sample (pages deactivated before it were not
        // counted as active either).
        let base = marks
            .at_least(now, self.cfg.cold_age_ns.saturating_mul(2))
            .or_else(|| marks.oldest())
            .map_or(s.kept_pages, |(_, v)| v);
        self.deactivated = s.kept_pages.saturating_sub(base) * crate::PAGE;
    }

    fn step_max(&self, s: &Sample) -> u64 {
        if self.cfg.step_max != 0 {
            self.cfg.step_max
        } else {
            (s.mem_total / 64).clamp(32 * MIB, 256 * MIB)
        }
        .max(self.cfg.step_min)
    }

    /// Adds the CPU time of `s` to the idle window and judges it: idle when everything but us
    /// used at most [`OursConfig::idle_busy_ppm`] of the CPUs on average over the last
    /// [`OursConfig::idle_ns`], as WSL judges its window (a window of intervals each under
    /// the limit broke at every spike: reclaiming, we make the kernel report what we free
    /// and compact, work that runs outside our own CPU time; on 6.12 under TCG 60-130 ms per
    /// 5 s, over 0.5 % of two CPUs, every few intervals of an otherwise idle guest). The
    /// average still ends idle within an interval when real work starts (a build's 40 % of
    /// the CPUs over 5 s is 3 % of a minute).
    fn judge_idle(&mut self, s: &Sample) {
        let now = s.now_ns;
        let spacing = self
            .cfg
            .interval_ns
            .max(self.cfg.idle_ns / (BUSY_SLOTS as u64 / 2))
            .max(1);
        // Spans of at least an interval however often we sample (the kernel counts CPU time
        // in 10 ms ticks: over the 1.25 s between two bites one tick is 0.4 % of two CPUs).
        if !self.busy_marks.due(now, spacing) {
            return;
        }
        // Our own CPU time (the kernel's reclaim and compaction in our writes included) is
        // not the machine being used: without this, reclaiming keeps an idle machine "busy".
        // Per span, and never below zero: the kernel counts the machine's busy time in ticks
        // and ours exactly, so that under load ours can exceed the machine's over a span (by
        // 1.6 s in 5 s on 6.12 under TCG), and a running difference let such spans cancel the
        // busy ones around them (a hot set re-read every 20 s then looked idle).
        let (busy0, own0) = self
            .busy_at_mark
            .replace((s.cpu_busy_ns, s.own_cpu_ns))
            .unwrap_or((s.cpu_busy_ns, s.own_cpu_ns));
        let span_other = s
            .cpu_busy_ns
            .saturating_sub(busy0)
            .saturating_sub(s.own_cpu_ns.saturating_sub(own0));
        self.other_busy = self.other_busy.saturating_add(span_other);
        let other = self.other_busy;
        self.busy_marks.push(now, other, spacing);
        // The newest mark at least a window old; none yet: not idle.
        let mark = self.busy_marks.at_least(now, self.cfg.idle_ns.max(1));
        self.idle = mark.is_some_and(|(t, busy0)| {
            let cap = u128::from(now - t) * u128::from(s.cpus.max(1));
            let busy = u128::from(other.saturating_sub(busy0));
            busy * 1_000_000 <= u128::from(self.cfg.idle_busy_ppm) * cap
        });
    }

    /// Classic LRU: the hot set, the active file list of `s` plus what the kernel moved off
    /// it over the last two cold ages (or the largest active list seen within the last
    /// [`OursConfig::cold_age_ns`], where the kernel does not count what it moves). Our own
    /// steps make the kernel move active pages to the inactive list once that is smaller
    /// than the active one (on 6.1 by 24-158 MiB per 32 MiB step, `pgrefill`, the 640 MiB
    /// active list of a hot set re-read every 20 s down to 308 MiB); those pages were in use
    /// a moment ago and go back at their next read, but a floor that followed the active list
    /// down let the steps take them first (100 MiB refaulted). Nor is the peak enough: on
    /// 6.1 under load the hot set's second read (which activates it) was still going when our
    /// steps made the kernel start moving it back, the active list peaked at 604 of its
    /// 640 MiB, and a step took 13.8 MiB of it. Two cold ages: a page moved back just after
    /// its read is read again a period plus the time the read takes later (20 + 12 s there).
    fn active_hot(&self, s: &Sample) -> u64 {
        let (peak, at) = self.active_peak;
        let peak = if s.now_ns.saturating_sub(at) < self.cfg.cold_age_ns {
            peak
        } else {
            0
        };
        s.active_file.saturating_add(self.deactivated).max(peak)
    }

    /// The floor (bytes of file cache kept) for `s`.
    pub fn floor(&self, s: &Sample) -> u64 {
        if self.idle {
            return 0;
        }
        // The young part of the inactive list (classic LRU) or of the old generations (MGLRU:
        // generations age only under reclaim, so pages read a second ago can sit in an "old"
        // one) is kept, the reserve at least.
        let (hot, young) = match s.cold_file {
            Some(cold) => (s.file.saturating_sub(cold), self.young.min(cold)),
            None => (self.active_hot(s), self.young.min(s.inactive_file)),
        };
        let hot = hot.saturating_sub(self.probe);
        (hot + young.max(self.cfg.inactive_reserve))
            .max(self.learned)
            .max(self.cfg.floor)
    }

    /// The answer to `s`.
    pub fn step(&mut self, s: &Sample) -> Plan {
        let now = s.now_ns;
        self.next = now + self.cfg.interval_ns;
        let mut plan = Plan::sleep(Some(self.next));
        self.judge_idle(s);
        self.track_deactivated(s);
        let Some(last) = self.last.replace(*s) else {
            self.verdict = Verdict::Baseline;
            return plan;
        };
        let dt = now.saturating_sub(last.now_ns);
        if dt == 0 {
            self.verdict = Verdict::Baseline;
            return plan;
        }
        let own = core::mem::take(&mut self.own_stall_ns);
        let freed_last = core::mem::take(&mut self.freed_since_sample);
        // MGLRU: pages the kernel moved out of the way of our last step because they were used
        // since they were added (`pgrefill`; see the in-use rule below).
        let kept = if s.lru_gen && freed_last > 0 {
            s.kept_pages.saturating_sub(last.kept_pages) * crate::PAGE
        } else {
            0
        };
        if let Some(cost) = freed_last
            .saturating_add(kept)
            .saturating_mul(8)
            .checked_div(freed_last)
        {
            self.scan_cost_x8 = cost.max(8);
        }
        self.track_inflow(&last, s, freed_last);
        // The active list's peak: kept for a cold age after it was last reached.
        if s.active_file >= self.active_hot(s) {
            self.active_peak = (s.active_file, now);
        }
        // Pressure over the interval, without the agent's own reclaim time.
        let stall_ns = s
            .psi_some_total_us
            .saturating_sub(last.psi_some_total_us)
            .saturating_mul(1000)
            .saturating_sub(own);
        let psi_ppm = (u128::from(stall_ns) * 1_000_000 / u128::from(dt)) as u64;
        let pressure = psi_ppm > self.cfg.psi_limit_ppm
            || u64::from(s.psi_some_avg10) * 100 > self.cfg.psi_limit_ppm.max(100);
        // Refaults since the last sample.
        let refaulted = s.refault_pages.saturating_sub(last.refault_pages) * crate::PAGE;
        if refaulted > self.cfg.refault_slack {
            self.verdict = Verdict::Refaults;
            self.step = self.cfg.step_min;
            self.probe = 0;
            // Refaulted pages are activated by the kernel (short refault distance): where the
            // active list is known it now holds them, and the floor is it plus twice the
            // refaults. Blind to it, the whole cache is the working set. MGLRU counts as
            // blind here: its generations age only when something reclaims, and pages read
            // through read() stay in the generation they were added to, so a hot set re-read
            // every few seconds is as "old" as cold data (seen on Debian's 6.12, where this
            // floor used to let reclaim go on into the hot set, one refault after the other);
            // the kernel evicts the oldest pages first, so what is left when refaults start
            // is the working set.
            let learned = match (s.cold_file, self.active_hot(s)) {
                (None, hot) if hot > 0 => hot + self.cfg.inactive_reserve + 2 * refaulted,
                _ => s.file.saturating_add(refaulted),
            };
            self.learned = self.learned.max(learned).min(s.mem_total);
            self.quiet_until = now + self.hold;
            self.hold = (self.hold * 2).min(self.cfg.hold_max_ns);
            return plan;
        }
        // MGLRU: our last step made the kernel move pages out of the way because they were
        // used since they were added (its protection of read-again cache). The ages do not
        // show a hot set read through read(); this can, before the next re-read would show it
        // as refaults. Only where it kept at least 16 times what the step freed (≥ 94 % of
        // what it looked at was in use) and three quarters of what is left (it went through
        // nearly all of it) is what is left the working set: on 6.12 the kernel keeps nothing
        // while cold cache is left and the whole 640 MiB hot set (20× a 32 MiB step, 78× an
        // 8 MiB bite, 98 % of what was left) at the first step into it, but 7.3 also moves
        // 7-13× a 32 MiB step of cold cache out of the way of the first steps, and up to 30×
        // an 8 MiB bite (a quarter of what was left). More than twice what is left is not one
        // pass over it but MGLRU aging every generation (7.3 once moved 5.7 GiB for a 3 MiB
        // step over 1.1 GiB of cache, and all of it was young afterwards): no evidence then.
        // (The classic LRU's `pgrefill` is the active list being aged, which its floor
        // already accounts for.)
        // `kept` is 0 unless MGLRU and a step of ours came before.
        // (Give or take `kept_slack`: 6.12 went through a 128 MiB hot set and kept 126 MiB
        // for an 8 MiB bite, 15.7 times.)
        let kept_16x = kept > self.cfg.kept_slack
            && kept.saturating_add(self.cfg.kept_slack) >= freed_last.saturating_mul(16);
        if kept_16x
            && kept.saturating_mul(4) >= s.file.saturating_mul(3)
            && kept <= s.file.saturating_mul(2)
            && !self.idle
        {
            self.verdict = Verdict::InUse;
            self.step = self.cfg.step_min;
            self.probe = 0;
            self.learned = self.learned.max(s.file).min(s.mem_total);
            self.quiet_until = self.quiet_until.max(now + self.hold);
            return plan;
        }
        if pressure {
            self.verdict = Verdict::Pressure;
            self.step = self.cfg.step_min;
            return plan;
        }
        let idle = self.idle;
        // MGLRU, machine in use: a step larger than a bite is taken a bite at a time, the
        // next sample as much sooner as the bite is smaller than the step, so that the in-use
        // rule can stop reclaim after the first bite into the working set.
        let mglru_busy = s.lru_gen && !idle && self.cfg.bite > 0;
        // MGLRU: the kernel went through at least 16 times what it freed for the last bite
        // (≥ 94 % of what it looked at was in use) but much is left, so the in-use rule does
        // not hold: reclaim is among pages in use, and the kernel may have let some of them
        // go with the cold ones (7.3 keeps 10-23 times a bite where its oldest generation
        // mixes a hot set re-read every 20 s with cold cache, and those bites refault). The
        // next bite waits a cold age, long enough for the refaults of this one to show.
        if mglru_busy && kept_16x {
            self.watch_until = now + self.cfg.cold_age_ns;
        }
        if mglru_busy && now < self.watch_until {
            self.verdict = Verdict::Watch;
            return plan;
        }
        if now >= self.quiet_until {
            // Quiet for a hold time: the learned floor fades and the floor probes the active
            // list, both slowly and a step at a time: `probe_step` per cold age, however often
            // we sample, so that a probe into the hot set costs one step before its refaults
            // (re-read within a cold age), or on MGLRU the kernel's kept pages, stop it. (A
            // probe of `probe_step` per interval went 13-19 MiB into a hot set re-read every
            // 20 s on 6.1 before the refaults showed.)
            let fade = if now >= self.next_probe {
                self.next_probe = now + self.cfg.cold_age_ns;
                self.cfg.probe_step
            } else {
                0
            };
            self.learned = self.learned.saturating_sub(fade);
            self.probe += fade;
        }
        let floor = self.floor(s);
        let mut max = self.step_max(s);
        if idle {
            // Nobody uses the cache: no need to probe with small steps.
            max *= 4;
            self.step = max;
        }
        let bite = if mglru_busy { self.cfg.bite } else { u64::MAX };
        // While the kernel keeps at least as much as it frees for our steps, it is still
        // sorting the cache by use (its first pass over pages added to the oldest generation,
        // hot and cold alike; 7.3 keeps 3-23 times the step there, and lets some pages of a
        // hot set re-read every 20 s go with the cold ones; 5 MiB of it at 8 MiB per 5 s, 32 MiB
        // at 32 MiB per 5 s): at most `sort_rate` per interval until it has sorted the cache
        // (it then keeps nothing of the cold cache). The steps still grow, so the full rate
        // is there as soon as the cost falls.
        let rate = if mglru_busy && self.scan_cost_x8 >= 16 {
            self.step.min(max).min(self.cfg.sort_rate.max(bite))
        } else {
            self.step.min(max)
        };
        let mut n = rate.min(bite).min(s.file.saturating_sub(floor));
        // What the last step could not free (pages in writeback, mapped and in use): not
        // asked for again every interval, and the compaction "once caught up" runs.
        if let Some((left, until)) = self.stuck {
            if now < until && s.file <= left.saturating_add(self.cfg.step_min.min(MIB)) {
                n = 0;
            } else {
                self.stuck = None;
            }
        }
        // Compaction of what was freed: rate-limited, and once when caught up.
        let compact_due = self
            .last_compact
            .is_none_or(|t| now - t >= self.cfg.compact_min_ns);
        if n >= self.cfg.step_min.min(MIB) {
            self.verdict = Verdict::Reclaim;
            plan.push(Action::Reclaim {
                bytes: n,
                swappiness: self.cfg.swappiness,
                time_limit_ns: self.cfg.time_limit_ns,
            });
            if bite < rate && n == bite {
                let wait =
                    (u128::from(self.cfg.interval_ns) * u128::from(n) / u128::from(rate)) as u64;
                self.next = now + wait.max(self.cfg.interval_ns / 16).max(1);
                plan.wake_at_ns = Some(self.next);
            }
            if now.saturating_sub(self.grown_at) >= self.cfg.interval_ns {
                self.step = (self.step * 2).min(max);
                self.grown_at = now;
            }
            if compact_due && self.freed_since_compact + n >= self.cfg.compact_bytes {
                plan.push(Action::Compact);
            }
        } else {
            self.verdict = Verdict::AtFloor;
            self.step = self.cfg.step_min;
            if self.freed_since_compact > 0 && compact_due {
                plan.push(Action::Compact);
            }
        }
        plan
    }

    /// What an action of the last plan did.
    pub fn outcome(&mut self, a: &Action, o: &Outcome) {
        self.own_stall_ns = self.own_stall_ns.saturating_add(o.elapsed_ns);
        match a {
            Action::Compact => {
                self.freed_since_compact = 0;
                self.last_compact = self.last.map(|s| s.now_ns);
            }
            Action::Reclaim { .. } | Action::DropCaches { .. } => {
                self.freed_since_compact += o.freed;
                self.freed_since_sample += o.freed;
                if matches!(o.error, None | Some(ActError::Short))
                    && o.freed < self.cfg.step_min.min(MIB)
                {
                    self.stuck = self.last.map(|s| {
                        (
                            s.file.saturating_sub(o.freed),
                            s.now_ns + self.cfg.cold_age_ns,
                        )
                    });
                }
                match o.error {
                    None => {}
                    // The kernel found less to reclaim, or took too long: smaller steps.
                    Some(ActError::Short | ActError::TimedOut) => self.step = self.cfg.step_min,
                    Some(ActError::Busy | ActError::Invalid | ActError::Unavailable) => {
                        self.step = self.cfg.step_min;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ModelCache;
    use crate::{CacheControl, PAGE, Reclaimer};

    const S: u64 = NS_PER_SEC;
    const MS: u64 = NS_PER_SEC / 1000;
    const MIBP: u64 = MIB / PAGE;

    /// A 4 GiB guest with 256 MiB of other memory, 2 GiB of cold cache and `hot` MiB hot.
    fn guest(hot_mib: u64) -> ModelCache {
        let mut g = ModelCache::new(1 << 20, 256 * MIBP, 2048 * MIBP);
        g.set_hot(hot_mib * MIBP);
        g
    }

    /// Runs `p` on `g` until `until` ns with the CPU `busy_ppm` busy; calls `each` after every
    /// step. Returns the plans' reclaim byte counts.
    fn run(
        p: &mut Reclaimer,
        g: &mut ModelCache,
        until: u64,
        busy_ppm: u64,
        mut each: impl FnMut(u64, &mut ModelCache),
    ) -> u64 {
        let mut asked = 0;
        let mut last = 0;
        while let Some(t) = p.next_deadline().filter(|&t| t <= until) {
            g.busy_ns += (t - last) * busy_ppm / 1_000_000;
            last = t;
            let s = g.sample(t);
            let plan = p.run(&s, g);
            for a in plan.actions() {
                assert!(
                    !matches!(a, Action::DropCaches { .. }),
                    "ours never drops caches"
                );
                if let Action::Reclaim {
                    bytes,
                    time_limit_ns,
                    swappiness,
                } = *a
                {
                    assert!(bytes <= 256 * MIB && time_limit_ns > 0 && swappiness == Some(0));
                    asked += bytes;
                }
            }
            each(t, g);
        }
        asked
    }

    fn ours() -> Reclaimer {
        Reclaimer::Ours(alloc::boxed::Box::new(Ours::new(OursConfig::default())))
    }

    #[test]
    fn a_busy_machine_gets_its_cold_cache_back_within_minutes_and_keeps_the_hot_set() {
        let mut g = guest(200);
        let mut p = ours();
        let cold = g.cache_pages() - g.hot_pages();
        run(&mut p, &mut g, 300 * S, 30_000, |_, g| {
            g.reread_hot();
        });
        let left_cold = g.cache_pages() - g.hot_pages();
        assert!(
            left_cold * 10 < cold,
            "returned {} of {cold}",
            cold - left_cold
        );
        assert_eq!(g.refaults, 0, "the hot set was not touched");
        assert_eq!(g.hot_pages(), 200 * MIBP);
        assert!(g.compactions > 0, "freed memory was compacted");
    }

    #[test]
    fn refaults_back_off_and_protect_the_hot_set_for_longer_each_time() {
        // A 1 GiB hot set the kernel does not see as active (e.g. read once per cycle):
        // reclaim reaches it, refaults stop it.
        let mut g = ModelCache::new(1 << 20, 256 * MIBP, 1024 * MIBP);
        g.set_hot(1024 * MIBP);
        let mut p = Reclaimer::Ours(alloc::boxed::Box::new(Ours::new(OursConfig {
            floor: 0,
            inactive_reserve: 0,
            ..OursConfig::default()
        })));
        // The sample sees no active list at all: only refaults can protect the hot set.
        struct Blind<'a>(&'a mut ModelCache);
        impl CacheControl for Blind<'_> {
            fn reclaim(&mut self, b: u64, sw: Option<u8>, l: u64) -> Outcome {
                self.0.reclaim(b, sw, l)
            }
            fn drop_caches(&mut self, l: u8) -> Outcome {
                self.0.drop_caches(l)
            }
            fn compact(&mut self) -> Outcome {
                self.0.compact()
            }
        }
        let mut events = alloc::vec::Vec::new();
        let mut t = 0;
        while t < 3600 * S {
            t = p.next_deadline().expect("runs");
            g.busy_ns += 5 * S / 20;
            let mut s = g.sample(t);
            s.active_file = 0;
            s.inactive_file = s.file;
            p.run(&s, &mut Blind(&mut g));
            if t % (20 * S) == 0 {
                g.reread_hot();
            }
            if let Reclaimer::Ours(o) = &p {
                if o.verdict() == Verdict::Refaults {
                    events.push(t);
                }
            }
        }
        assert!(!events.is_empty());
        // Each protection lasts at least as long as the one before.
        let gaps: alloc::vec::Vec<u64> = events.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(gaps.iter().all(|&g| g >= 15 * 60 * S), "{gaps:?}");
        // Blind to the active list, it refaults under 10 % of the hot set in the first hour
        // (most of it the first probe, 8 + 16 + 32 MiB before the first re-read).
        assert!(g.refaults * 10 < 1024 * MIBP, "{} MiB", g.refaults / MIBP);
    }

    #[test]
    fn pressure_pauses_reclaim_but_its_own_reclaim_time_does_not_count() {
        let mut g = guest(0);
        let mut p = Ours::new(OursConfig::default());
        let s0 = g.sample(5 * S);
        p.step(&s0);
        // 50 ms of stall in 5 s = 1 %: pause.
        g.psi_us += 50_000;
        let plan = p.step(&g.sample(10 * S));
        assert!(plan.is_empty());
        assert_eq!(p.verdict(), Verdict::Pressure);
        // The same stall, all of it the agent's own reclaim write: go on.
        let plan = p.step(&g.sample(15 * S));
        assert!(!plan.is_empty());
        let a = *plan.actions().next().expect("reclaim");
        p.outcome(
            &a,
            &Outcome {
                freed: 8 * MIB,
                elapsed_ns: 50_000_000,
                error: None,
            },
        );
        g.psi_us += 50_000;
        assert!(!p.step(&g.sample(20 * S)).is_empty());
        assert_eq!(p.verdict(), Verdict::Reclaim);
    }

    #[test]
    fn steps_grow_from_the_minimum_and_fall_back_on_a_short_reclaim() {
        let mut g = guest(0);
        let mut p = Ours::new(OursConfig::default());
        p.step(&g.sample(5 * S));
        let mut sizes = alloc::vec::Vec::new();
        for i in 2..8 {
            let plan = p.step(&g.sample(i * 5 * S));
            for a in plan.actions() {
                if let Action::Reclaim { bytes, .. } = a {
                    sizes.push(*bytes / MIB);
                }
                let o = crate::apply(a, &mut g);
                p.outcome(a, &o);
            }
        }
        assert_eq!(sizes, [8, 16, 32, 64, 64, 64], "RAM/64 = 64 MiB at most");
        g.fail_next = Some(ActError::Short);
        let plan = p.step(&g.sample(45 * S));
        let a = *plan.actions().next().expect("reclaim");
        let o = crate::apply(&a, &mut g);
        p.outcome(&a, &o);
        assert_eq!(p.step_bytes(), 8 * MIB);
    }

    #[test]
    fn an_idle_machine_gives_back_everything_like_dropcache() {
        let mut g = guest(500);
        let mut p = ours();
        // One idle minute, then 4 x 64 MiB per interval from the first step on: the 2.5 GiB
        // are back after ten steps, within two minutes (WSL's dropcache drops after two).
        run(&mut p, &mut g, 60 * S, 0, |_, _| {});
        assert_eq!(g.hot_pages(), 500 * MIBP, "not idle for a minute yet");
        run(&mut p, &mut g, 115 * S, 0, |_, _| {});
        assert_eq!(g.cache_pages(), 0, "idle: the floor is zero");
        // The same machine kept busy keeps its hot set.
        let mut g = guest(500);
        let mut p = ours();
        run(&mut p, &mut g, 600 * S, 20_000, |_, _| {});
        assert_eq!(g.hot_pages(), 500 * MIBP);
    }

    #[test]
    fn a_stale_active_list_is_probed_after_the_hold_time() {
        let mut g = guest(500);
        let mut p = ours();
        // Busy, but the "hot" set is never read: after 15 minutes the floor goes into it.
        run(&mut p, &mut g, 14 * 60 * S, 20_000, |_, _| {});
        assert_eq!(g.hot_pages(), 500 * MIBP);
        run(&mut p, &mut g, 30 * 60 * S, 20_000, |_, _| {});
        assert!(g.hot_pages() < 300 * MIBP, "{}", g.hot_pages() / MIBP);
        assert_eq!(g.refaults, 0);
    }

    /// A page cache in which pages read once sit on the inactive list until their second read
    /// and reclaim takes the oldest of them first, as the kernel does: `fresh` pages read
    /// once (first) and about to be read again, `cold` pages read once (after them), `active`
    /// pages read twice.
    struct OnceRead {
        cold: u64,
        fresh: u64,
        active: u64,
        evicted_fresh: u64,
        refaults: u64,
        busy_ns: u64,
    }

    impl OnceRead {
        fn sample(&self, now: u64) -> Sample {
            let file = (self.cold + self.fresh + self.active) * PAGE;
            Sample {
                now_ns: now,
                mem_total: 4 << 30,
                mem_free: (4 << 30) - (256 << 20) - file,
                file,
                active_file: self.active * PAGE,
                inactive_file: (self.cold + self.fresh) * PAGE,
                refault_pages: self.refaults,
                cpu_busy_ns: self.busy_ns,
                cpus: 1,
                ..Sample::default()
            }
        }
        /// The second read of the fresh set: what was evicted of it comes back as refaults,
        /// all of it is active from now on.
        fn reread_fresh(&mut self) {
            self.refaults += self.evicted_fresh;
            self.active += self.fresh + self.evicted_fresh;
            self.fresh = 0;
            self.evicted_fresh = 0;
        }
    }

    impl CacheControl for OnceRead {
        fn reclaim(&mut self, bytes: u64, _: Option<u8>, _: u64) -> Outcome {
            let want = bytes / PAGE;
            let f = want.min(self.fresh);
            self.fresh -= f;
            self.evicted_fresh += f;
            let c = (want - f).min(self.cold);
            self.cold -= c;
            Outcome {
                freed: (f + c) * PAGE,
                ..Outcome::default()
            }
        }
        fn drop_caches(&mut self, _: u8) -> Outcome {
            Outcome::default()
        }
        fn compact(&mut self) -> Outcome {
            Outcome::default()
        }
    }

    /// Runs `cfg` on a hot set of 1.5 GiB read once at 10 s and again at 35 s, with 1 GiB of
    /// cold files read at 15-20 s in between; returns (refaulted pages, first reclaim time,
    /// the model at 10 minutes).
    fn hot_set_read_first(cfg: OursConfig) -> (u64, Option<u64>, OnceRead) {
        let mut g = OnceRead {
            cold: 0,
            fresh: 0,
            active: 0,
            evicted_fresh: 0,
            refaults: 0,
            busy_ns: 0,
        };
        let mut p = Reclaimer::Ours(alloc::boxed::Box::new(Ours::new(cfg)));
        let mut first_reclaim = None;
        while let Some(t) = p.next_deadline().filter(|&t| t <= 600 * S) {
            g.busy_ns = t / 50;
            if t == 10 * S {
                g.fresh = 1536 * MIBP;
            }
            if t == 15 * S || t == 20 * S {
                g.cold += 512 * MIBP;
            }
            if t == 35 * S {
                g.reread_fresh();
            }
            let s = g.sample(t);
            let plan = p.run(&s, &mut g);
            if plan.actions().any(|a| matches!(a, Action::Reclaim { .. })) {
                first_reclaim.get_or_insert(t);
            }
        }
        (g.refaults, first_reclaim, g)
    }

    #[test]
    fn cache_read_within_the_cold_age_is_left_alone() {
        // The hot set is the oldest inactive data until its second read: with the active
        // list alone as the floor the first steps take it (the simulator's hot-cache before
        // this rule) ...
        let (refaults, _, _) = hot_set_read_first(OursConfig {
            cold_age_ns: 0,
            ..OursConfig::default()
        });
        assert!(refaults >= 100 * MIBP, "{} MiB", refaults / MIBP);
        // ... keeping what came in within 30 s leaves it alone: the first step comes when
        // the cold files are 30 s old (plus the estimate's 3.75 s grain) and takes them.
        let (refaults, first, g) = hot_set_read_first(OursConfig::default());
        assert_eq!(
            refaults, 0,
            "the hot set was read twice before it could be taken"
        );
        let first = first.expect("reclaims");
        assert!((45 * S..=50 * S).contains(&first), "first step at {first}");
        assert_eq!(g.active, 1536 * MIBP);
        assert!(g.cold < 64 * MIBP, "cold left: {} MiB", g.cold / MIBP);
    }

    #[test]
    fn the_young_estimate_counts_growth_and_our_own_reclaim() {
        let mut g = guest(0);
        let mut p = Ours::new(OursConfig::default());
        p.step(&g.sample(5 * S));
        assert_eq!(
            p.young_bytes(),
            0,
            "what was there at the first sample is not young"
        );
        // 100 MiB come in while we reclaim 8 MiB: 100 MiB young.
        g.fill_cache(100 * MIBP);
        let plan = p.step(&g.sample(10 * S));
        let a = *plan.actions().next().expect("the old cache is reclaimed");
        p.outcome(&a, &crate::apply(&a, &mut g));
        assert_eq!(p.young_bytes(), 100 * MIB);
        g.fill_cache(10 * MIBP);
        p.step(&g.sample(15 * S));
        assert_eq!(p.young_bytes(), 110 * MIB);
        // 30 s after the sample that saw them the first 100 MiB are old, 5 s later the rest.
        let mut t = 15 * S;
        while t < 40 * S {
            t += 5 * S;
            p.step(&g.sample(t));
        }
        assert_eq!(p.young_bytes(), 10 * MIB, "at {t}");
        t += 5 * S;
        p.step(&g.sample(t));
        assert_eq!(p.young_bytes(), 0);
        // Over many windows the ring (32 slots) wraps and stays right.
        for _ in 0..100 {
            t += 5 * S;
            g.fill_cache(MIBP);
            p.step(&g.sample(t));
        }
        assert!(
            (6 * MIB..=8 * MIB).contains(&p.young_bytes()),
            "{}",
            p.young_bytes() / MIB
        );
    }

    #[test]
    fn mglru_refaults_make_what_is_left_the_floor() {
        // MGLRU: all but a few MiB in generations older than the cold age (nothing reclaimed,
        // so nothing aged), the hot set among them, as on Debian's 6.12 in
        // scripts/reclaim-qemu's dev-box; the first refaults stop reclaim at what is left
        // (the ages would put the floor at 4 MiB + reserve + twice the refaults).
        let g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        let mut s = g.sample(0);
        s.cold_file = Some(s.file - 4 * MIB);
        p.step(&s);
        let mut s = g.sample(5 * S);
        s.cold_file = Some(s.file - 4 * MIB);
        s.refault_pages += 8 * MIBP;
        p.step(&s);
        assert_eq!(p.verdict(), Verdict::Refaults);
        assert_eq!(
            p.floor(&s),
            s.file + 8 * MIB,
            "what is left plus what came back"
        );
        let mut s2 = g.sample(10 * S);
        s2.cold_file = Some(s2.file - 4 * MIB);
        s2.refault_pages = s.refault_pages;
        assert!(
            !p.step(&s2)
                .actions()
                .any(|a| matches!(a, Action::Reclaim { .. })),
            "no reclaim below the learned floor"
        );
    }

    #[test]
    fn mglru_pages_kept_by_the_kernel_stop_reclaim_before_refaults() {
        // 200 MiB of cache left, 180 MiB of it hot; and the 2.1 GiB guest of the other tests.
        let mut small = ModelCache::new(1 << 20, 256 * MIBP, 200 * MIBP);
        small.set_hot(180 * MIBP);
        let big = guest(100);
        let mglru = |mut s: Sample, kept_mib: u64| {
            s.lru_gen = true;
            s.cold_file = Some(s.file);
            s.kept_pages = kept_mib * MIBP;
            s
        };
        // One 8 MiB step, then the kernel reports `kept_mib` kept: the verdict.
        let after_step = |g: &ModelCache, kept_mib: u64, lru_gen: bool| {
            let mut p = Ours::new(OursConfig::default());
            let fix = |s: Sample| if lru_gen { mglru(s, 0) } else { s };
            p.step(&fix(g.sample(0)));
            let plan = p.step(&fix(g.sample(5 * S)));
            let a = *plan.actions().next().expect("a reclaim step");
            p.outcome(
                &a,
                &Outcome {
                    freed: 8 * MIB,
                    elapsed_ns: 1_000_000,
                    error: None,
                },
            );
            let mut s = fix(g.sample(10 * S));
            s.kept_pages = kept_mib * MIBP;
            p.step(&s);
            (p.verdict(), p.floor(&s), s.file)
        };
        // 6.12 at the hot set: the kernel kept 20x the step and 80 % of what is left: what is
        // left is the floor.
        let (v, floor, file) = after_step(&small, 160, true);
        assert_eq!(v, Verdict::InUse);
        assert_eq!(floor, file);
        // 7.3 in cold cache: 7x the step kept: not the working set, reclaim goes on.
        assert_eq!(after_step(&small, 56, true).0, Verdict::Reclaim);
        // 7.3, an 8 MiB bite into 2.1 GiB of cache: 30x kept, but a ninth of what is left:
        // not the floor, but the next bite waits until refaults would show.
        assert_eq!(after_step(&big, 240, true).0, Verdict::Watch);
        // MGLRU aging every generation: 10 times what is left moved (7.3: 5.7 GiB for 1.1 GiB):
        // not one pass over what is left, so not the floor (the next bite waits, though).
        assert_eq!(after_step(&small, 2000, true).0, Verdict::Watch);
        // A classic LRU's pgrefill (the active list aging) says nothing here.
        assert_ne!(after_step(&small, 160, false).0, Verdict::InUse);
        // Kept pages without a step of ours before them (kswapd, another reclaimer): nothing.
        let mut q = Ours::new(OursConfig::default());
        q.step(&mglru(small.sample(0), 0));
        q.step(&mglru(small.sample(5 * S), 640));
        assert_ne!(q.verdict(), Verdict::InUse);
    }

    /// Runs `p` on `g` until `until` ns with MGLRU samples (`lru_gen`, everything "old"),
    /// waking when each plan says; `fix` adjusts each sample (its index, the sample) and
    /// `after` sees the policy after each step. Returns the reclaim writes (time, bytes).
    fn run_mglru(
        p: &mut Ours,
        g: &mut ModelCache,
        until: u64,
        mut fix: impl FnMut(u64, &mut Sample),
        mut after: impl FnMut(u64, &Ours, &Sample),
    ) -> alloc::vec::Vec<(u64, u64)> {
        let mut writes = alloc::vec::Vec::new();
        let (mut t, mut i) = (0, 0);
        while t < until {
            let mut s = g.sample(t);
            s.lru_gen = true;
            s.cold_file = Some(s.file);
            fix(i, &mut s);
            let plan = p.step(&s);
            for a in plan.actions() {
                let o = crate::apply(a, &mut *g);
                p.outcome(a, &o);
                if let Action::Reclaim { bytes, .. } = a {
                    writes.push((t, *bytes));
                }
            }
            assert_eq!(plan.wake_at_ns, p.next_deadline());
            after(t, p, &s);
            i += 1;
            t = plan.wake_at_ns.expect("runs");
        }
        writes
    }

    /// A busy guest for [`run_mglru`]: 100 ms of CPU per sample.
    fn busy(i: u64, s: &mut Sample) {
        s.cpu_busy_ns = (i + 1) * S / 10;
    }

    /// Busy, and the kernel's `pgrefill` read from `kept` (pages).
    fn busy_kept(kept: &core::cell::Cell<u64>) -> impl FnMut(u64, &mut Sample) + '_ {
        move |i, s| {
            busy(i, s);
            s.kept_pages = kept.get();
        }
    }

    /// Bytes of `writes` (time, bytes) written in `from..to` seconds.
    fn written(writes: &[(u64, u64)], from: u64, to: u64) -> u64 {
        writes
            .iter()
            .filter(|&&(t, _)| (from * S..to * S).contains(&t))
            .map(|&(_, b)| b)
            .sum()
    }

    #[test]
    fn mglru_cache_read_in_within_90_s_is_young_while_busy() {
        // 64 MiB of old cache, then 1 GiB read in at 10 s on a busy machine. Classic LRU: the
        // inactive pages read in are cold 30 s later. MGLRU: a hot set among them is not
        // protected by the kernel before its refs saturate, so they stay for 90 s.
        for lru_gen in [false, true] {
            let mut g = ModelCache::new(1 << 20, 256 * MIBP, 64 * MIBP);
            let mut p = Ours::new(OursConfig::default());
            let mut writes = alloc::vec::Vec::new();
            let (mut t, mut i) = (0, 0);
            while t < 240 * S {
                if t == 10 * S {
                    g.fill_cache(1024 * MIBP);
                }
                let mut s = g.sample(t);
                s.lru_gen = lru_gen;
                s.cold_file = lru_gen.then_some(s.file);
                busy(i, &mut s);
                let plan = p.step(&s);
                for a in plan.actions() {
                    let o = crate::apply(a, &mut g);
                    p.outcome(a, &o);
                    if let Action::Reclaim { bytes, .. } = a {
                        writes.push((t, *bytes));
                    }
                }
                i += 1;
                t = plan.wake_at_ns.expect("runs");
            }
            let young_for = if lru_gen { 90 } else { 30 };
            // Only the old cache goes before the window ends.
            let early = written(&writes, 0, 10 + young_for);
            assert!(early <= 64 * MIB, "{lru_gen}: {} MiB", early / MIB);
            let late = written(&writes, 10 + young_for, 240);
            assert!(late >= 900 * MIB, "{lru_gen}: {} MiB", late / MIB);
        }
    }

    #[test]
    fn mglru_steps_larger_than_a_bite_are_taken_in_bites_at_the_same_rate() {
        // A busy 4 GiB MGLRU guest (step maximum RAM/64 = 64 MiB per 5 s): once the step
        // outgrows the 8 MiB bite, every write is 8 MiB and the next sample comes as much
        // sooner (64 MiB per 5 s = 8 MiB every 625 ms), so each bite is followed by a sample
        // that can stop reclaim.
        let mut g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        // Busy: 100 ms of CPU per sample.
        let writes = run_mglru(&mut p, &mut g, 60 * S, busy, |_, _, _| {});
        assert!(writes.iter().all(|&(_, b)| b <= 8 * MIB), "{writes:?}");
        // From 30 s on, 64 MiB per 5 s.
        assert_eq!(written(&writes, 30, 55), 5 * 64 * MIB, "{writes:?}");
        // Classic LRU: whole steps, one per interval.
        let mut g = guest(100);
        let mut q = Ours::new(OursConfig::default());
        let mut sizes = alloc::vec::Vec::new();
        for i in 0..8 {
            let plan = q.step(&g.sample(i * 5 * S));
            assert_eq!(q.next_deadline(), Some((i + 1) * 5 * S));
            for a in plan.actions() {
                let o = crate::apply(a, &mut g);
                q.outcome(a, &o);
                if let Action::Reclaim { bytes, .. } = a {
                    sizes.push(*bytes / MIB);
                }
            }
        }
        assert_eq!(sizes, [8, 16, 32, 64, 64, 64, 64]);
    }

    #[test]
    fn mglru_sort_rate_while_the_kernel_keeps_more_than_it_frees() {
        // 7.3 in its first pass over the oldest generation: it keeps 7 times what each step
        // frees. 16 MiB (two bites) per interval then; once it keeps nothing (the cache is
        // sorted), the full rate at once (the step grew meanwhile).
        let mut g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        // The kernel's `pgrefill`: 7 pages kept per page our writes before 60 s freed.
        let kept = core::cell::Cell::new(0);
        let writes = run_mglru(&mut p, &mut g, 90 * S, busy_kept(&kept), |t, p, _| {
            if t < 60 * S {
                kept.set(kept.get() + 7 * p.freed_since_sample / PAGE);
            }
        });
        assert!(writes.iter().all(|&(_, b)| b <= 8 * MIB), "{writes:?}");
        assert_eq!(
            written(&writes, 10, 60),
            10 * 16 * MIB,
            "16 MiB per 5 s: {writes:?}"
        );
        assert_eq!(
            written(&writes, 65, 90),
            5 * 64 * MIB,
            "then 64 MiB per 5 s: {writes:?}"
        );
    }

    #[test]
    fn mglru_a_bite_among_pages_in_use_makes_the_next_wait_a_cold_age() {
        // 7.3 where its oldest generation mixes a hot set with cold cache: for the first bite
        // after 40 s it keeps 20 times what the bite freed (a fifth of what is left). No
        // reclaim for the next 30 s, then bites again. The same for 6.12 going through a
        // 128 MiB hot set for an 8 MiB bite (kept 126 MiB: 16 times the bite, give or take
        // `kept_slack`); not for a bite the kernel kept 12 times as much for.
        for (times, less, watched) in [(20, 0, true), (16, 2 * MIB, true), (12, 0, false)] {
            let mut g = guest(100);
            let mut p = Ours::new(OursConfig::default());
            let kept = core::cell::Cell::new(0);
            let mut watch = alloc::vec::Vec::new();
            let writes = run_mglru(&mut p, &mut g, 120 * S, busy_kept(&kept), |t, p, _| {
                if t >= 40 * S && kept.get() == 0 && p.freed_since_sample > 0 {
                    kept.set((times * p.freed_since_sample - less) / PAGE);
                }
                if p.verdict() == Verdict::Watch {
                    watch.push(t);
                }
            });
            if !watched {
                assert_eq!(watch, [], "{times}x");
                continue;
            }
            let first = *watch.first().expect("a watch");
            let (before, after): (alloc::vec::Vec<_>, alloc::vec::Vec<_>) =
                writes.iter().map(|&(t, _)| t).partition(|&t| t < first);
            let last_bite = *before.last().expect("bites before");
            assert!(
                last_bite < first && first - last_bite < 5 * S,
                "the sample after the bite: {writes:?}"
            );
            let resumed = *after.first().expect("bites again");
            assert!(
                (first + 30 * S..first + 35 * S).contains(&resumed),
                "{first} {resumed}: {writes:?}"
            );
            assert!(watch.iter().all(|&t| t < first + 30 * S), "{watch:?}");
        }
    }

    #[test]
    fn mglru_the_learned_floor_is_probed_a_step_per_cold_age() {
        // Refaults at 20 s make what is left the floor, for the 15-minute hold. Then, with
        // nothing refaulting again, the floor goes `probe_step` (4 MiB) further every 30 s:
        // one small write per probe, however often we sample.
        let mut g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        let mut refaults = 0;
        let mut learned_at = None;
        let writes = run_mglru(
            &mut p,
            &mut g,
            1300 * S,
            |i, s| {
                busy(i, s);
                if s.now_ns >= 20 * S && refaults == 0 {
                    refaults = 8 * MIBP;
                }
                s.refault_pages = refaults;
            },
            |t, p, _| {
                if p.verdict() == Verdict::Refaults {
                    learned_at.get_or_insert(t);
                }
            },
        );
        let hit = learned_at.expect("refaults");
        assert_eq!(
            written(&writes, hit / S, hit / S + 900),
            0,
            "held: {writes:?}"
        );
        let probes: alloc::vec::Vec<_> = writes.iter().filter(|&&(t, _)| t > hit).collect();
        assert!(probes.iter().all(|&&(_, b)| b <= 4 * MIB), "{probes:?}");
        assert!(
            probes.windows(2).all(|w| w[1].0 - w[0].0 >= 30 * S),
            "{probes:?}"
        );
        // 1300 s - (hit + 900 s) ≈ 380 s: 12 or 13 probes; the first two take back the
        // refaulted 8 MiB the floor kept above what was left: 10 or 11 writes.
        assert!((10..=11).contains(&probes.len()), "{probes:?}");
    }

    #[test]
    fn classic_lru_pages_our_steps_deactivate_stay_in_the_floor_for_a_cold_age() {
        // Debian 12's 6.1, hot-cache: a 640 MiB hot set on the active list, re-read every
        // 20 s, and 400 MiB of cold inactive cache. Each step of ours makes the kernel move
        // 66 MiB of the active list to the head of the inactive list (its `pgrefill`); the
        // steps take the inactive tail, the cold cache, first. The floor keeps the active
        // list's peak, so no step reaches the deactivated hot pages before their next read
        // puts them back, and the cold cache still goes. (A floor that follows the active
        // list down takes 8 MiB of the hot set here, when the cold runs out between two
        // re-reads.)
        let mut p = Ours::new(OursConfig::default());
        let (mut active, mut deact, mut cold) = (640 * MIB, 0, 400 * MIB);
        let (mut lost, mut refaults) = (0, 0);
        let mut t = 5 * S;
        while t <= 300 * S {
            if t % (20 * S) == 0 {
                // The re-read: deactivated and evicted hot pages are active again.
                active += deact + lost;
                refaults += lost / PAGE;
                deact = 0;
                lost = 0;
            }
            let s = Sample {
                now_ns: t,
                mem_total: 2 << 30,
                mem_free: 1 << 30,
                file: active + deact + cold,
                active_file: active,
                inactive_file: deact + cold,
                refault_pages: refaults,
                cpu_busy_ns: t / 50,
                cpus: 2,
                ..Sample::default()
            };
            for a in p.step(&s).actions() {
                if let Action::Reclaim { bytes, .. } = *a {
                    let from_cold = bytes.min(cold);
                    cold -= from_cold;
                    let from_hot = (bytes - from_cold).min(deact);
                    deact -= from_hot;
                    lost += from_hot;
                    let moved = (66 * MIB).min(active);
                    active -= moved;
                    deact += moved;
                    p.outcome(
                        a,
                        &Outcome {
                            freed: from_cold + from_hot,
                            elapsed_ns: 10_000_000,
                            error: None,
                        },
                    );
                }
            }
            t = p.next_deadline().expect("runs");
        }
        assert_eq!(refaults + lost / PAGE, 0, "no hot page was reclaimed");
        assert!(
            cold <= 32 * MIB,
            "the cold cache went: {} MiB left",
            cold / MIB
        );
    }

    #[test]
    fn classic_lru_hot_pages_moved_back_during_their_first_activation_stay_in_the_floor() {
        // Debian 12's 6.1 under load, hot-cache: 384 MiB of cold cache, then a 640 MiB hot
        // set read once (all inactive, the cold oldest) before the first sample; the hot set
        // is read again 22 s after each read, each read taking 16 s. Once the inactive list is smaller
        // than the active one, every step of ours makes the kernel move 64 MiB of the active
        // list's oldest pages to the inactive head (`pgrefill`), so the active list peaks
        // short of the hot set while its second read is still going. Chunks of 4 MiB.
        use alloc::collections::VecDeque;
        const CHUNK: u64 = 4 * MIB;
        let (cold, hot) = (96u32, 160u32);
        // Front: the oldest (the inactive tail, what reclaim takes first).
        let mut inactive: VecDeque<u32> = (0..cold + hot).collect();
        let mut active: VecDeque<u32> = VecDeque::new();
        let (mut lost, mut refill, mut refaults) = (alloc::vec::Vec::new(), 0u64, 0u64);
        let mut p = Ours::new(OursConfig::default());
        let mut t = 5 * S;
        let mut read_to = 5 * S;
        while t <= 400 * S {
            // The reader: read k starts at 35 + 38 k s (22 s after the last ended) and reads a
            // chunk every 0.1 s (16 s in all).
            while read_to < t {
                read_to += S / 100;
                let since = read_to.saturating_sub(35 * S) % (38 * S);
                if read_to < 35 * S || since % (S / 10) >= S / 100 {
                    continue;
                }
                let c = cold + (since / (S / 10)) as u32;
                if c >= cold + hot {
                    continue;
                }
                if let Some(i) = lost.iter().position(|&l| l == c) {
                    lost.swap_remove(i);
                    refaults += CHUNK / PAGE;
                } else if let Some(i) = inactive.iter().position(|&l| l == c) {
                    inactive.remove(i);
                } else if let Some(i) = active.iter().position(|&l| l == c) {
                    active.remove(i);
                }
                active.push_back(c);
            }
            let file = (inactive.len() + active.len()) as u64 * CHUNK;
            let s = Sample {
                now_ns: t,
                mem_total: 2 << 30,
                mem_free: (2 << 30) - file,
                file,
                active_file: active.len() as u64 * CHUNK,
                inactive_file: inactive.len() as u64 * CHUNK,
                refault_pages: refaults,
                kept_pages: refill,
                cpu_busy_ns: t / 20,
                cpus: 2,
                ..Sample::default()
            };
            for a in p.step(&s).actions() {
                if let Action::Reclaim { bytes, .. } = *a {
                    let mut freed = 0;
                    while freed < bytes {
                        let Some(c) = inactive.pop_front() else { break };
                        if c >= cold {
                            lost.push(c);
                        }
                        freed += CHUNK;
                    }
                    if inactive.len() < active.len() {
                        for _ in 0..16 {
                            let Some(c) = active.pop_front() else { break };
                            inactive.push_back(c);
                            refill += CHUNK / PAGE;
                        }
                    }
                    p.outcome(
                        a,
                        &Outcome {
                            freed,
                            elapsed_ns: 10_000_000,
                            error: None,
                        },
                    );
                }
            }
            t = p.next_deadline().expect("runs");
        }
        let cold_left = inactive
            .iter()
            .chain(&active)
            .filter(|&&c| c < cold)
            .count();
        assert_eq!(
            (refaults * PAGE / MIB, lost.len()),
            (0, 0),
            "no hot page was reclaimed"
        );
        assert!(
            cold_left <= 8,
            "the cold cache went: {cold_left} chunks left"
        );
    }

    #[test]
    fn our_own_cpu_time_does_not_make_an_idle_machine_busy() {
        // 2 % of the CPU busy, all of it the agent's own reclaim writes: idle after a minute.
        let g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        for i in 0..=13u64 {
            let mut s = g.sample(i * 5 * S);
            s.cpu_busy_ns = i * 100_000_000;
            s.own_cpu_ns = i * 100_000_000;
            p.step(&s);
        }
        assert_eq!(p.floor(&g.sample(65 * S)), 0, "idle: floor 0");
        // The same 2 % from other processes: busy, the floor stays.
        let mut q = Ours::new(OursConfig::default());
        for i in 0..=13u64 {
            let mut s = g.sample(i * 5 * S);
            s.cpu_busy_ns = i * 100_000_000;
            q.step(&s);
        }
        assert!(q.floor(&g.sample(65 * S)) > 0, "busy: the floor stays");
    }

    #[test]
    fn cache_a_step_could_not_free_is_not_asked_for_every_interval() {
        // 64 MiB of cache no step can free (in writeback, mapped and in use): after a step
        // that freed nothing, no reclaim for a cold age unless the cache grows; the freed
        // memory is compacted once caught up. (Idle from 65 s on: the floor is 0.)
        let g = guest(0);
        let mut p = Ours::new(OursConfig::default());
        let sample = |t: u64, file: u64| {
            let mut s = g.sample(t);
            s.file = file;
            s.inactive_file = file;
            s
        };
        let mut acts = alloc::vec::Vec::new();
        for i in 1..=20u64 {
            let file = if i >= 17 { 80 * MIB } else { 64 * MIB };
            let s = sample(i * 5 * S, file);
            let plan = p.step(&s);
            for a in plan.actions() {
                let o = match a {
                    Action::Reclaim { .. } if i == 2 => Outcome {
                        freed: 16 * MIB,
                        ..Outcome::default()
                    },
                    Action::Reclaim { .. } => Outcome {
                        error: Some(ActError::Short),
                        ..Outcome::default()
                    },
                    _ => Outcome::default(),
                };
                p.outcome(a, &o);
                acts.push((i, *a));
            }
        }
        let reclaims: alloc::vec::Vec<u64> = acts
            .iter()
            .filter(|(_, a)| matches!(a, Action::Reclaim { .. }))
            .map(|&(i, _)| i)
            .collect();
        // Steps at 2 (freed 16 MiB) and 3 (nothing), then not before 3 + 6 intervals (30 s);
        // at 9 nothing again, then at 15; at 17 the cache grew by 16 MiB: at once.
        assert_eq!(reclaims, [2, 3, 9, 15, 17], "{acts:?}");
        // Compaction once caught up (at 4), and with the idle machine's 64 MiB step at 15.
        let compacts: alloc::vec::Vec<u64> = acts
            .iter()
            .filter(|(_, a)| matches!(a, Action::Compact))
            .map(|&(i, _)| i)
            .collect();
        assert_eq!(compacts, [4, 15], "{acts:?}");
    }

    #[test]
    fn idle_is_the_average_over_a_minute_with_spikes() {
        // Two CPUs; every third interval 120 ms of CPU time outside ours (the kernel reporting
        // and compacting what we freed: 1.2 % over that interval, 0.4 % over a minute): idle
        // after a minute. Then a build starts (40 % of the CPUs): busy at the next sample.
        let g = guest(100);
        let mut p = Ours::new(OursConfig::default());
        let mut busy = 0;
        let mut idle_at = None;
        for i in 0..=40u64 {
            if i % 3 == 0 {
                busy += 120_000_000;
            }
            if i == 30 {
                busy += 4 * S;
            }
            let mut s = g.sample(i * 5 * S);
            s.cpus = 2;
            s.cpu_busy_ns = busy;
            p.step(&s);
            let idle = p.floor(&s) == 0;
            if i < 12 || i == 30 {
                assert!(!idle, "busy at {i}");
            }
            if idle && idle_at.is_none() {
                idle_at = Some(i);
            }
        }
        assert_eq!(idle_at, Some(12), "idle a minute after the first sample");
        // A hot set re-read every 20 s (400 ms of other CPU time each, 1 % of two CPUs over
        // a minute) while our reclaim's CPU time, counted exactly, exceeds what the
        // machine's tick-counted busy time shows by 1.6 s in every other span: never idle.
        let mut r = Ours::new(OursConfig::default());
        let (mut busy, mut own) = (0, 0);
        for i in 0..=40u64 {
            own += 2 * S;
            busy += if i % 2 == 0 { 2 * S - 1600 * MS } else { 2 * S };
            if i % 4 == 1 {
                busy += 400 * MS;
            }
            let mut s = g.sample(i * 5 * S);
            s.cpus = 2;
            s.cpu_busy_ns = busy;
            s.own_cpu_ns = own;
            r.step(&s);
            assert!(r.floor(&s) > 0, "busy at {i}");
        }
        // 1 % on average with no spikes (dev-box, hot-cache): never idle.
        let mut q = Ours::new(OursConfig::default());
        for i in 0..=40u64 {
            let mut s = g.sample(i * 5 * S);
            s.cpus = 2;
            s.cpu_busy_ns = i * 100_000_000;
            q.step(&s);
            assert!(q.floor(&s) > 0, "busy at {i}");
        }
    }

    #[test]
    fn idle_is_judged_over_whole_intervals_when_bites_sample_more_often() {
        // MGLRU bites sample every 1.25 s. The kernel counts CPU time in 10 ms ticks: a tick
        // in one of two samples is 0.8 % of two CPUs over 1.25 s (above the 0.5 % idle
        // limit) but 0.2 % over 5 s. The machine is idle; after a minute the floor is 0.
        let mut g = ModelCache::new(1 << 20, 256 * MIBP, 2048 * MIBP);
        g.set_hot(100 * MIBP);
        let mut p = Ours::new(OursConfig::default());
        let (mut n, mut idle_at) = (0, None);
        run_mglru(
            &mut p,
            &mut g,
            120 * S,
            |i, s| {
                s.cpus = 2;
                s.cpu_busy_ns = i.div_ceil(2) * 10_000_000;
            },
            |t, p, s| {
                n += 1;
                if idle_at.is_none() && p.floor(s) == 0 {
                    idle_at = Some(t);
                }
            },
        );
        assert!(n > 120 / 5 + 10, "bites sampled more often: {n} samples");
        let idle_at = idle_at.expect("idle within two minutes");
        assert!((60 * S..75 * S).contains(&idle_at), "idle at {idle_at}");
    }

    #[test]
    fn mglru_ages_replace_the_active_list() {
        let g = guest(100);
        let p = Ours::new(OursConfig::default());
        let mut s = g.sample(0);
        s.cold_file = Some(s.file - 700 * MIB);
        assert_eq!(p.floor(&s), 716 * MIB);
        s.cold_file = None;
        assert_eq!(p.floor(&s), 116 * MIB);
    }

    #[test]
    fn a_clock_that_does_not_advance_does_nothing() {
        let g = guest(0);
        let mut p = Ours::new(OursConfig::default());
        assert!(p.step(&g.sample(5 * S)).is_empty());
        assert!(p.step(&g.sample(5 * S)).is_empty());
        assert!(p.step(&g.sample(3 * S)).is_empty(), "backwards");
        assert_eq!(p.verdict(), Verdict::Baseline);
    }

    #[test]
    fn scaled_divides_times_only() {
        let c = OursConfig::scaled(10);
        assert_eq!(c.interval_ns, S / 2);
        assert_eq!(c.idle_ns, 6 * S);
        assert_eq!(c.cold_age_ns, 3 * S);
        assert_eq!(c.step_min, OursConfig::default().step_min);
        assert_eq!(c.time_limit_ns, S);
    }
}
