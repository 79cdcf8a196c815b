//! The page-reporting engine: Linux's `mm/page_reporting.c` as a sans-IO state machine.
//!
//! The engine owns no memory and no timer. The caller tells it about eligible frees
//! ([`notify_free`](ReportingEngine::notify_free)), asks when it wants to run
//! ([`next_deadline`](ReportingEngine::next_deadline)), and drives a pass with
//! [`poll`](ReportingEngine::poll) / [`complete`](ReportingEngine::complete): `poll` walks the
//! free lists, isolates blocks and returns a batch; the caller reports it (the allocator stays
//! usable meanwhile — isolated blocks cannot be allocated or merged) and hands the result to
//! `complete`, which puts the blocks back at the tail, flagged reported on success.
//! [`run`](ReportingEngine::run) does both against a [`ReportSink`].
//!
//! Two policies share all safety rules (only free blocks ≥ the order, isolation while
//! reporting, zone watermark gate, per-block isolation watermark, reported flag):
//!
//! * [`Policy::Linux`] — upstream: batches of ≤ 32 blocks, per-list budget
//!   `ceil(nr_free / 512)` full batches (+1) per pass, REQUESTED again when a budget runs out.
//! * [`Policy::Coalesced`] — each unreported block is grown into the maximal run of physically
//!   adjacent unreported free blocks ≥ the order (capped at
//!   [`EngineConfig::max_extent_pages`]); batches of ≤ 511 extents (one heat-hint page); no
//!   budget when the guest is idle (no eligible free during the `delay` before the pass),
//!   otherwise a budget of `32 × ceil(nr_free / 512)` blocks per list.
//!
//! Beyond upstream, both policies close the corners where Linux leaves free memory unreported
//! until some later free happens to request a pass (see `docs/page-reporting.md`):
//!
//! 1. a list stopped by the isolation watermark (`min_wmark + 2^order`) requests another pass —
//!    it finishes the list once our batch is back, or stops at the (stricter) zone gate if
//!    memory is really low;
//! 2. after a pass skipped a zone at its gate, a free of *any* order requests a pass;
//! 3. [`notify_free`](ReportingEngine::notify_free) also takes the remainder order of a split
//!    ([`Allocation::remainder_order`](crate::buddy::Allocation::remainder_order));
//! 4. a reported block that merges on put-back requests another pass.
//!
//! With these an idle guest always ends fully reported while its zone passes the gate.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::types::{
    Extent, FreeMemory, MAX_ORDER, MAX_RANGES_PER_HINT, PAGEBLOCK_ORDER, REPORTING_CAPACITY,
    REPORTING_DELAY, ReportError, ReportSink,
};

/// Which batching policy the engine follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Upstream Linux: one block per entry, 32 entries per batch, per-list budget.
    #[default]
    Linux,
    /// Adjacent free blocks reported as one range, 511 ranges per batch, no budget when idle.
    Coalesced,
}

impl Policy {
    /// All policies, in the order they are documented.
    pub const ALL: [Policy; 2] = [Policy::Linux, Policy::Coalesced];

    /// The name accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Linux => "linux",
            Policy::Coalesced => "coalesced",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A policy name that is not `linux` or `coalesced`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown page-reporting policy {0:?}: expected \"linux\" or \"coalesced\"")]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownPolicy(String::from(s)))
    }
}

/// Invalid engine configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Reporting order outside 0 ..= 10.
    #[error("reporting order {0} is outside 0..=10")]
    BadOrder(u8),
    /// Batch capacity outside 1 ..= 511.
    #[error("batch capacity {0} is outside 1..=511")]
    BadCapacity(usize),
    /// Extent cap not a positive multiple of 1024 frames (the largest block).
    #[error("extent cap of {0} frames is not a positive multiple of 1024")]
    BadExtentCap(u64),
}

/// Engine configuration; build with [`EngineConfig::new`] and the `with_*` setters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    policy: Policy,
    order: u8,
    capacity: usize,
    delay: Duration,
    max_extent_pages: u64,
}

impl EngineConfig {
    /// Defaults for `policy`: order 9 (pageblock), 2 s delay, capacity 32 (Linux) or 511
    /// (coalesced), extents of at most 2048 × 2 MiB.
    pub const fn new(policy: Policy) -> Self {
        Self {
            policy,
            order: PAGEBLOCK_ORDER,
            capacity: match policy {
                Policy::Linux => REPORTING_CAPACITY,
                Policy::Coalesced => MAX_RANGES_PER_HINT,
            },
            delay: REPORTING_DELAY,
            max_extent_pages: 2048 * 512,
        }
    }

    /// Minimum reporting order (0 ..= 10; WSL uses 5).
    pub const fn with_order(mut self, order: u8) -> Result<Self, ConfigError> {
        if order > MAX_ORDER {
            return Err(ConfigError::BadOrder(order));
        }
        self.order = order;
        Ok(self)
    }

    /// Entries per batch (1 ..= 511).
    pub const fn with_capacity(mut self, capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 || capacity > MAX_RANGES_PER_HINT {
            return Err(ConfigError::BadCapacity(capacity));
        }
        self.capacity = capacity;
        Ok(self)
    }

    /// Delay between a request and its pass.
    pub const fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Largest coalesced extent in frames (a positive multiple of 1024).
    pub const fn with_max_extent_pages(mut self, pages: u64) -> Result<Self, ConfigError> {
        if pages == 0 || pages % 1024 != 0 {
            return Err(ConfigError::BadExtentCap(pages));
        }
        self.max_extent_pages = pages;
        Ok(self)
    }

    /// The policy.
    pub const fn policy(&self) -> Policy {
        self.policy
    }
    /// The configured minimum order.
    pub const fn order(&self) -> u8 {
        self.order
    }
    /// Entries per batch.
    pub const fn capacity(&self) -> usize {
        self.capacity
    }
    /// Delay between a request and its pass.
    pub const fn delay(&self) -> Duration {
        self.delay
    }
    /// Largest coalesced extent in frames.
    pub const fn max_extent_pages(&self) -> u64 {
        self.max_extent_pages
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self::new(Policy::Linux)
    }
}

/// The engine's request state (`PAGE_REPORTING_IDLE/REQUESTED/ACTIVE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EngineState {
    /// Nothing to do.
    #[doc(alias = "PAGE_REPORTING_IDLE")]
    Idle = 0,
    /// A pass is scheduled (or will be rescheduled when the running one ends).
    #[doc(alias = "PAGE_REPORTING_REQUESTED")]
    Requested = 1,
    /// A pass is running.
    #[doc(alias = "PAGE_REPORTING_ACTIVE")]
    Active = 2,
}

/// Engine counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Passes started.
    pub passes: u64,
    /// Batches handed out.
    pub batches: u64,
    /// Batches that came back failed.
    pub batches_failed: u64,
    /// Extents in successful batches.
    pub extents_reported: u64,
    /// Buddy blocks isolated.
    pub blocks_isolated: u64,
    /// Frames in successful batches.
    pub pages_reported: u64,
    /// Zones skipped by the entry gate (`low_wmark + (32 << order)`).
    pub zone_gate_skips: u64,
    /// Lists stopped by the isolation watermark (`min_wmark + 2^order`).
    pub isolation_stops: u64,
    /// Lists stopped because the budget ran out.
    pub budget_stops: u64,
    /// Passes requested because a reported block merged on put-back.
    pub merge_requests: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    ZoneStart,
    List { order: u8, budget: Option<i64> },
    ZoneTail,
    Aborted,
}

#[derive(Clone, Copy, Debug)]
struct Pass {
    zone: usize,
    step: Step,
    /// Coalesced policy: the guest was idle when the pass started (no budget).
    unlimited: bool,
    /// Zone of the outstanding batch.
    batch_zone: usize,
    /// The outstanding batch was reported mid-list and costs one unit of that list's budget.
    charge: bool,
    started: Duration,
}

enum ListOutcome {
    Done,
    Full(i64),
}

/// The page-reporting engine. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ReportingEngine {
    cfg: EngineConfig,
    order_floor: u8,
    state: EngineState,
    registered: bool,
    deadline: Option<Duration>,
    last_notify: Option<Duration>,
    pass: Option<Pass>,
    batch: Vec<Extent>,
    outstanding: bool,
    /// A zone was skipped by the gate in the last pass: any free may lift it above.
    gate_skipped: bool,
    stats: EngineStats,
}

impl ReportingEngine {
    /// A new, unregistered engine (nothing happens until [`register`](Self::register)).
    pub fn new(cfg: EngineConfig) -> Self {
        Self {
            cfg,
            order_floor: 0,
            state: EngineState::Idle,
            registered: false,
            deadline: None,
            last_notify: None,
            pass: None,
            batch: Vec::with_capacity(cfg.capacity),
            outstanding: false,
            gate_skipped: false,
            stats: EngineStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Request state.
    pub fn state(&self) -> EngineState {
        self.state
    }

    /// Whether the engine is registered (reporting on).
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The order in force: `max(configured order, sink floor)`.
    pub fn order(&self) -> u8 {
        self.cfg.order.max(self.order_floor).min(MAX_ORDER)
    }

    /// Raise (or lower) the floor under the configured order; read at every pass and free
    /// notification, like Linux's `page_reporting_order`.
    pub fn set_order_floor(&mut self, floor: u8) {
        self.order_floor = floor.min(MAX_ORDER);
    }

    /// Change the configured order at runtime (0 ..= 10).
    pub fn set_order(&mut self, order: u8) -> Result<(), ConfigError> {
        self.cfg = self.cfg.with_order(order)?;
        Ok(())
    }

    /// Register: state IDLE, then one request, so the first pass runs `delay` after `now`.
    pub fn register(&mut self, now: Duration) {
        if self.registered {
            return;
        }
        self.registered = true;
        self.state = EngineState::Idle;
        self.request(now);
    }

    /// Unregister: cancel the scheduled pass; an outstanding batch goes back unreported.
    /// Reported flags on free blocks stay (a later registration resumes where this one left).
    pub fn unregister<M: FreeMemory + ?Sized>(&mut self, mem: &mut M) {
        if self.outstanding {
            self.complete(mem, Err(ReportError::Disabled));
        }
        self.registered = false;
        self.pass = None;
        self.deadline = None;
        self.state = EngineState::Idle;
    }

    /// A block of `order` (after buddy merging) was freed without "skip notify", or an
    /// allocation's split left a free remainder of `order`
    /// ([`Allocation::remainder_order`](crate::buddy::Allocation::remainder_order)). Requests a
    /// pass if `order` ≥ the reporting order (`page_reporting_notify_free`) — or, after a pass
    /// skipped a zone at its watermark gate, for a free of any order. Call it for every free.
    pub fn notify_free(&mut self, now: Duration, order: u8) {
        if self.registered && (order >= self.order() || self.gate_skipped) {
            self.last_notify = Some(now);
            self.request(now);
        }
    }

    fn request(&mut self, now: Duration) {
        match self.state {
            EngineState::Requested => {}
            EngineState::Active => self.state = EngineState::Requested,
            EngineState::Idle => {
                self.state = EngineState::Requested;
                self.deadline = Some(now.saturating_add(self.cfg.delay));
            }
        }
    }

    /// When the engine next wants [`poll`](Self::poll): the scheduled pass, or the start of the
    /// pass in progress. `None` when idle.
    pub fn next_deadline(&self) -> Option<Duration> {
        match &self.pass {
            Some(p) => Some(p.started),
            None => self.deadline,
        }
    }

    /// The batch handed out by [`poll`](Self::poll) and not yet completed.
    pub fn outstanding_batch(&self) -> Option<&[Extent]> {
        self.outstanding.then_some(self.batch.as_slice())
    }

    /// Advance: start a due pass and walk until a batch is ready (returned; its blocks are
    /// isolated until [`complete`](Self::complete)) or the pass ends (`None`). Calling again
    /// before `complete` returns the same batch.
    pub fn poll<M: FreeMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        now: Duration,
    ) -> Option<&[Extent]> {
        if self.outstanding {
            return Some(&self.batch);
        }
        if self.pass.is_none() {
            if !self.registered || self.deadline.is_none_or(|d| now < d) {
                return None;
            }
            self.deadline = None;
            self.gate_skipped = false;
            self.state = EngineState::Active;
            let idle = self
                .last_notify
                .is_none_or(|t| now.saturating_sub(t) >= self.cfg.delay);
            self.pass = Some(Pass {
                zone: 0,
                step: Step::ZoneStart,
                unlimited: self.cfg.policy == Policy::Coalesced && idle,
                batch_zone: 0,
                charge: false,
                started: now,
            });
            self.stats.passes += 1;
        }
        if self.advance(mem) {
            self.outstanding = true;
            self.stats.batches += 1;
            Some(&self.batch)
        } else {
            self.pass = None;
            self.batch.clear();
            if self.state == EngineState::Requested {
                self.deadline = Some(now.saturating_add(self.cfg.delay));
            } else {
                self.state = EngineState::Idle;
            }
            None
        }
    }

    /// Finish the outstanding batch: put every block back at the tail of its free list,
    /// flagged reported if `result` is `Ok` and the block did not merge. A failure ends the pass
    /// (the next [`poll`](Self::poll) returns `None`); nothing is retried until the next request.
    pub fn complete<M: FreeMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        result: Result<(), ReportError>,
    ) {
        if !self.outstanding {
            return;
        }
        self.outstanding = false;
        let ok = result.is_ok();
        let zone = self.pass.as_ref().map_or(0, |p| p.batch_zone);
        let mut merged = false;
        for e in self.batch.drain(..) {
            if ok {
                self.stats.extents_reported += 1;
                self.stats.pages_reported += e.pages;
            }
            for (pfn, order) in e.blocks() {
                merged |= mem.put_back(zone, pfn, order, ok);
            }
        }
        if ok && merged && self.registered {
            // A reported block merged into an unreported one this pass may have walked past.
            self.stats.merge_requests += 1;
            self.state = EngineState::Requested;
        }
        if !ok {
            self.stats.batches_failed += 1;
        }
        if let Some(p) = self.pass.as_mut() {
            if !ok {
                p.step = Step::Aborted;
            } else if p.charge {
                if let Step::List {
                    budget: Some(b), ..
                } = &mut p.step
                {
                    *b -= 1;
                }
            }
            p.charge = false;
        }
    }

    /// Run everything due at `now` against `sink`: every batch of the pass (if one is due) is
    /// reported and completed. Returns the number of batches reported.
    pub fn run<M: FreeMemory + ?Sized, S: ReportSink + ?Sized>(
        &mut self,
        mem: &mut M,
        sink: &mut S,
        now: Duration,
    ) -> usize {
        let mut n = 0;
        self.set_order_floor(sink.order_floor());
        while let Some(batch) = self.poll(mem, now) {
            let r = sink.report(batch);
            self.complete(mem, r);
            self.set_order_floor(sink.order_floor());
            n += 1;
        }
        n
    }

    /// Walk until a batch is ready (`true`) or the pass is over (`false`).
    fn advance<M: FreeMemory + ?Sized>(&mut self, mem: &mut M) -> bool {
        let min_order = self.order();
        loop {
            let Some(mut p) = self.pass else { return false };
            match p.step {
                Step::Aborted => return false,
                Step::ZoneStart => {
                    if p.zone >= mem.zone_count() {
                        return false;
                    }
                    let zi = mem.zone_info(p.zone);
                    if zi.free_pages == 0 && zi.min_wmark == 0 && zi.low_wmark == 0 {
                        // No managed memory (e.g. a Normal zone whose RAM is all hot-add
                        // space not yet online): nothing to report and nothing a free could
                        // lift above the gate, so not a gate skip.
                        p.zone += 1;
                        self.pass = Some(p);
                        continue;
                    }
                    let gate = zi
                        .low_wmark
                        .saturating_add((REPORTING_CAPACITY as u64) << min_order);
                    if zi.free_pages <= gate {
                        self.stats.zone_gate_skips += 1;
                        self.gate_skipped = true;
                        p.zone += 1;
                    } else {
                        p.step = Step::List {
                            order: min_order,
                            budget: None,
                        };
                    }
                }
                Step::List { order, .. } if order > MAX_ORDER => p.step = Step::ZoneTail,
                Step::List { order, budget } => match self.walk_list(mem, &p, order, budget) {
                    ListOutcome::Done => {
                        p.step = Step::List {
                            order: order + 1,
                            budget: None,
                        }
                    }
                    ListOutcome::Full(b) => {
                        p.step = Step::List {
                            order,
                            budget: Some(b),
                        };
                        p.batch_zone = p.zone;
                        p.charge = self.cfg.policy == Policy::Linux;
                        self.pass = Some(p);
                        return true;
                    }
                },
                Step::ZoneTail => {
                    p.batch_zone = p.zone;
                    p.charge = false;
                    p.zone += 1;
                    p.step = Step::ZoneStart;
                    if !self.batch.is_empty() {
                        self.pass = Some(p);
                        return true;
                    }
                }
            }
            self.pass = Some(p);
        }
    }

    /// Initial budget of a list: Linux counts full batches, the coalesced policy blocks.
    fn initial_budget(&self, nr_free: u64, unlimited: bool) -> i64 {
        let calls = nr_free.div_ceil((REPORTING_CAPACITY * 16) as u64) as i64;
        match self.cfg.policy {
            Policy::Linux => calls,
            Policy::Coalesced if unlimited => i64::MAX,
            Policy::Coalesced => calls * REPORTING_CAPACITY as i64,
        }
    }

    /// The isolation watermark: the zone must keep more than `min_wmark + 2^order` free.
    fn may_isolate<M: FreeMemory + ?Sized>(mem: &M, zone: usize, order: u8) -> bool {
        let zi = mem.zone_info(zone);
        zi.free_pages > zi.min_wmark.saturating_add(1 << order)
    }

    /// The list cycle for (zone, order): Linux's `page_reporting_cycle`.
    fn walk_list<M: FreeMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        p: &Pass,
        order: u8,
        budget: Option<i64>,
    ) -> ListOutcome {
        let zone = p.zone;
        let Some(head) = mem.list_head(zone, order) else {
            return ListOutcome::Done;
        };
        let mut budget =
            budget.unwrap_or_else(|| self.initial_budget(mem.nr_free(zone, order), p.unlimited));
        let coalesced = self.cfg.policy == Policy::Coalesced;
        let mut cur = Some(head);
        while let Some(pfn) = cur {
            let mut next = mem.list_next(zone, order, pfn);
            if mem.free_block_at(zone, pfn).is_none_or(|b| b.reported) {
                cur = next;
                continue;
            }
            // Linux checks "budget < 0" (full calls); the coalesced budget counts blocks.
            if (coalesced && budget <= 0) || budget < 0 {
                self.state = EngineState::Requested;
                self.stats.budget_stops += 1;
                mem.rotate_to_front(zone, order, pfn);
                return ListOutcome::Done;
            }
            if self.batch.len() >= self.cfg.capacity {
                mem.rotate_to_front(zone, order, pfn);
                return ListOutcome::Full(budget);
            }
            if !Self::may_isolate(mem, zone, order) || mem.isolate(zone, pfn, order).is_err() {
                self.isolation_stop();
                mem.rotate_to_front(zone, order, pfn);
                return ListOutcome::Done;
            }
            self.stats.blocks_isolated += 1;
            let mut extent = Extent::block(pfn, order);
            if coalesced {
                budget -= 1;
                self.grow(mem, zone, order, &mut extent, &mut next, &mut budget);
            }
            self.batch.push(extent);
            cur = next;
        }
        ListOutcome::Done
    }

    fn isolation_stop(&mut self) {
        self.stats.isolation_stops += 1;
        // Finish the list later: once our batch is back, or — if memory is really low — the
        // next pass stops at the zone gate and waits for a free.
        self.state = EngineState::Requested;
    }

    /// Coalesced policy: absorb adjacent unreported free blocks ≥ the order on both sides.
    /// `next` (the list cursor) is advanced whenever the block it points to is absorbed.
    fn grow<M: FreeMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        zone: usize,
        list_order: u8,
        extent: &mut Extent,
        next: &mut Option<u64>,
        budget: &mut i64,
    ) {
        let min_order = self.order();
        let cap = self.cfg.max_extent_pages;
        // Backward: a free block of order k ending at extent.pfn starts at pfn - 2^k, aligned.
        'back: while extent.pages < cap && *budget > 0 {
            for k in min_order..=MAX_ORDER {
                let size = 1u64 << k;
                if extent.pfn < size || extent.pages + size > cap {
                    break;
                }
                let h = extent.pfn - size;
                if h % size != 0 {
                    continue;
                }
                if mem
                    .free_block_at(zone, h)
                    .is_some_and(|b| b.order == k && !b.reported)
                {
                    if !self.absorb(mem, zone, list_order, h, k, next) {
                        break 'back;
                    }
                    extent.pfn = h;
                    extent.pages += size;
                    *budget -= 1;
                    continue 'back;
                }
            }
            break;
        }
        // Forward: the block starting right after the extent.
        while extent.pages < cap && *budget > 0 {
            let h = extent.end();
            let Some(b) = mem.free_block_at(zone, h) else {
                break;
            };
            if b.reported || b.order < min_order || extent.pages + (1 << b.order) > cap {
                break;
            }
            if !self.absorb(mem, zone, list_order, h, b.order, next) {
                break;
            }
            extent.pages += 1 << b.order;
            *budget -= 1;
        }
    }

    fn absorb<M: FreeMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        zone: usize,
        list_order: u8,
        pfn: u64,
        order: u8,
        next: &mut Option<u64>,
    ) -> bool {
        if !Self::may_isolate(mem, zone, order) {
            self.isolation_stop();
            return false;
        }
        if order == list_order && *next == Some(pfn) {
            *next = mem.list_next(zone, order, pfn);
        }
        if mem.isolate(zone, pfn, order).is_err() {
            return false;
        }
        self.stats.blocks_isolated += 1;
        true
    }
}

#[cfg(test)]
mod tests;
