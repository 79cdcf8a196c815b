//! hv-reclaim: guest page-cache reclaim policies as sans-IO state machines.
//!
//! Free page reporting returns only *free* memory to the host; page cache stays until
//! something in the guest reclaims it. This crate holds the policies that decide when and how
//! much, in three modes ([`ReclaimMode`]):
//!
//! * `wsl2024` and `wsl2026`: WSL's guest-side reclaim thread (`autoMemoryReclaim`) in its two
//!   published generations, as `host-side.md` §3.3 describes them ([`wsl`]);
//! * `ours` (the default): continuous cold-cache reclaim in small bounded steps that backs off
//!   on refaults and memory pressure, protects the hot working set and compacts what it freed
//!   into reportable 2 MiB blocks ([`ours`]).
//!
//! # The seam
//!
//! A policy is a state machine: it is handed a [`Sample`] (time, memory counters, the root
//! cgroup's file LRU sizes and refaults, PSI memory, CPU busy time, MGLRU ages where known)
//! and answers with a [`Plan`]: up to a few [`Action`]s (reclaim N bytes with these options,
//! compact, drop caches) and the time of the next sample ("sleep until T"). What the actions
//! did comes back as an [`Outcome`]. A policy does no I/O, reads no clock and is `no_std` +
//! `alloc`, so the same code runs in the simulator (`hv-sim`, over its guest model), in the
//! tests (over `sim::ModelCache`, feature `sim`) and in the guest agent (`hv-reclaim-agent`,
//! over `/proc` and cgroup files). [`CacheControl`] is the executor side of the seam: [`apply`] runs one
//! action on it. It is not a kernel driver and does not report free memory (that is
//! `hv-reporting`).
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

pub mod ours;
#[cfg(any(test, feature = "sim"))]
pub mod sim;
pub mod wsl;

pub use ours::Verdict;
pub use ours::{Ours, OursConfig};
pub use wsl::ReclaimThread;

/// Nanoseconds per second (times are nanoseconds since boot).
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Bytes per page (the counters in pages are converted with this).
pub const PAGE: u64 = 4096;

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

/// The three reclaim modes: WSL's two generations (with their [`CachePolicy`]) and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ReclaimMode {
    /// WSL's 2024 reclaim thread.
    Wsl2024,
    /// WSL's 2026 reclaim thread.
    Wsl2026,
    /// Continuous cold-cache reclaim ([`Ours`]).
    #[default]
    Ours,
}

impl ReclaimMode {
    /// The mode's name (`wsl2024`, `wsl2026`, `ours`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Wsl2024 => "wsl2024",
            Self::Wsl2026 => "wsl2026",
            Self::Ours => "ours",
        }
    }

    /// The WSL mode of an era.
    pub fn of_era(era: CacheEra) -> Self {
        match era {
            CacheEra::Y2024 => Self::Wsl2024,
            CacheEra::Y2026 => Self::Wsl2026,
        }
    }
}

/// What a policy reads: one look at the guest. Sizes are bytes, counters cumulative since
/// boot. A source that cannot read a field leaves it 0 (or `None`); the policies treat 0 as
/// "nothing seen".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sample {
    /// Time since boot, ns (monotonic).
    pub now_ns: u64,
    /// `MemTotal`: online RAM.
    pub mem_total: u64,
    /// `MemFree`.
    pub mem_free: u64,
    /// Page cache reclaim can take: the root cgroup's file LRU (`memory.stat` `active_file` +
    /// `inactive_file`, without the shmem that `file` also counts; `file` or `Cached` where
    /// the lists are unknown).
    pub file: u64,
    /// `memory.stat` `active_file`.
    pub active_file: u64,
    /// `memory.stat` `inactive_file`.
    pub inactive_file: u64,
    /// `memory.stat` `workingset_refault_file`: evicted file pages read back, in pages.
    pub refault_pages: u64,
    /// `/proc/pressure/memory` `some total=`: time some task stalled on memory, µs.
    pub psi_some_total_us: u64,
    /// `/proc/pressure/memory` `some avg10=`, in hundredths of a percent.
    pub psi_some_avg10: u32,
    /// CPU busy time summed over all CPUs, ns (`/proc/stat` minus idle and iowait).
    pub cpu_busy_ns: u64,
    /// CPUs the busy time is summed over (at least 1).
    pub cpus: u32,
    /// MGLRU (`/sys/kernel/mm/lru_gen` on): file bytes in generations older than
    /// [`OursConfig::cold_age_ns`]. `None` without MGLRU or where it cannot be read.
    pub cold_file: Option<u64>,
    /// MGLRU is on (`/sys/kernel/mm/lru_gen/enabled`), whether or not its ages can be read.
    pub lru_gen: bool,
    /// Pages the kernel's reclaim in the root cgroup looked at and kept (`memory.stat`
    /// `pgrefill`, cumulative). With MGLRU: pages it moved out of the way into a younger
    /// generation because they were used since they were added; without it: active pages
    /// moved to the inactive list.
    pub kept_pages: u64,
    /// CPU time of the agent itself, ns (`/proc/self/stat` utime + stime; 0 where unknown).
    /// It includes the kernel's reclaim and compaction run in its writes; an idle test leaves
    /// it out, so that reclaiming does not make an idle machine look busy.
    pub own_cpu_ns: u64,
}

/// One thing a policy asks the executor to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "action", rename_all = "snake_case"))]
pub enum Action {
    /// Reclaim up to `bytes` of memory through the root cgroup's `memory.reclaim`.
    Reclaim {
        /// How much.
        bytes: u64,
        /// `swappiness=` argument (0 = file cache only) where the kernel takes it.
        swappiness: Option<u8>,
        /// Stop after this long even if less was reclaimed (the executor writes in chunks);
        /// 0 = no limit.
        time_limit_ns: u64,
    },
    /// `echo level > /proc/sys/vm/drop_caches`.
    DropCaches {
        /// 1 = page cache, 3 = page cache and reclaimable slab.
        level: u8,
    },
    /// `echo 1 > /proc/sys/vm/compact_memory`.
    Compact,
}

/// At most this many actions per plan.
pub const MAX_ACTIONS: usize = 3;

/// A policy's answer to a sample: actions to run in order, then sleep until `wake_at_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    actions: [Option<Action>; MAX_ACTIONS],
    /// When to take the next sample (ns since boot); `None`: the policy runs no more.
    pub wake_at_ns: Option<u64>,
}

impl Plan {
    /// A plan with no actions, waking at `wake`.
    pub fn sleep(wake: Option<u64>) -> Self {
        Self {
            actions: [None; MAX_ACTIONS],
            wake_at_ns: wake,
        }
    }

    /// Appends an action.
    ///
    /// # Panics
    /// If the plan already holds [`MAX_ACTIONS`] (a policy bug, caught by the tests).
    pub fn push(&mut self, a: Action) {
        let slot = self
            .actions
            .iter_mut()
            .find(|s| s.is_none())
            .expect("a plan holds at most MAX_ACTIONS actions");
        *slot = Some(a);
    }

    /// The actions in order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().flatten()
    }

    /// Whether the plan has no action.
    pub fn is_empty(&self) -> bool {
        self.actions[0].is_none()
    }
}

/// Why an action failed (the executor's errors, as the policies see them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ActError {
    /// The kernel could not reclaim all that was asked (`EAGAIN` from `memory.reclaim`).
    Short,
    /// Busy or interrupted (`EBUSY`, `EINTR`): try later.
    Busy,
    /// The kernel refused the request (`EINVAL`, e.g. an unknown argument).
    Invalid,
    /// The interface is missing or not permitted.
    Unavailable,
    /// The step's time limit ran out.
    TimedOut,
}

/// What one action did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Outcome {
    /// Bytes freed (as far as the executor knows; `memory.reclaim` does not say, so the agent
    /// counts what it asked for in the chunks that succeeded).
    pub freed: u64,
    /// How long it took, ns (0 in the simulator).
    pub elapsed_ns: u64,
    /// The failure, if any (after `freed` bytes).
    pub error: Option<ActError>,
}

/// The executor side of the seam: where a policy's actions land. The simulator implements it
/// over its guest model, the agent over cgroup and `/proc/sys/vm` files, the tests over
/// `sim::ModelCache` (feature `sim`).
pub trait CacheControl {
    /// Reclaims up to `bytes` (file cache first; `swappiness` as `memory.reclaim` takes it),
    /// giving up after `time_limit_ns` (0 = none).
    fn reclaim(&mut self, bytes: u64, swappiness: Option<u8>, time_limit_ns: u64) -> Outcome;
    /// `drop_caches` at `level`.
    fn drop_caches(&mut self, level: u8) -> Outcome;
    /// Compacts memory so that freed pages form whole (reportable) blocks.
    fn compact(&mut self) -> Outcome;
}

/// Runs one action on `c`.
pub fn apply<C: CacheControl + ?Sized>(a: &Action, c: &mut C) -> Outcome {
    match *a {
        Action::Reclaim {
            bytes,
            swappiness,
            time_limit_ns,
        } => c.reclaim(bytes, swappiness, time_limit_ns),
        Action::DropCaches { level } => c.drop_caches(level),
        Action::Compact => c.compact(),
    }
}

/// One of the three policies, chosen at run time: what the simulator and the agent hold.
#[derive(Debug, Clone)]
pub enum Reclaimer {
    /// WSL's thread (either era).
    Wsl(ReclaimThread),
    /// Ours.
    Ours(alloc::boxed::Box<Ours>),
}

impl Reclaimer {
    /// The policy of `mode`. `policy` is WSL's sub-mode (ignored by ours), `report_order` the
    /// page-reporting order (WSL 2024 skipped compaction at 0), `config` ours.
    pub fn new(
        mode: ReclaimMode,
        policy: CachePolicy,
        report_order: u8,
        config: OursConfig,
    ) -> Self {
        match mode {
            ReclaimMode::Wsl2024 => {
                Self::Wsl(ReclaimThread::new(policy, CacheEra::Y2024, report_order))
            }
            ReclaimMode::Wsl2026 => {
                Self::Wsl(ReclaimThread::new(policy, CacheEra::Y2026, report_order))
            }
            ReclaimMode::Ours => Self::Ours(alloc::boxed::Box::new(Ours::new(config))),
        }
    }

    /// When the first sample is due (`None`: the policy never runs).
    pub fn next_deadline(&self) -> Option<u64> {
        match self {
            Self::Wsl(t) => t.next_deadline(),
            Self::Ours(o) => o.next_deadline(),
        }
    }

    /// The policy's answer to `s`.
    pub fn step(&mut self, s: &Sample) -> Plan {
        match self {
            Self::Wsl(t) => t.step(s),
            Self::Ours(o) => o.step(s),
        }
    }

    /// What an action of the last plan did.
    pub fn outcome(&mut self, a: &Action, o: &Outcome) {
        match self {
            Self::Wsl(_) => {}
            Self::Ours(p) => p.outcome(a, o),
        }
    }

    /// Takes a sample from `sample`, runs the plan on `c` and feeds the outcomes back; returns
    /// the plan (a convenience for executors that need nothing between the actions).
    pub fn run<C: CacheControl + ?Sized>(&mut self, s: &Sample, c: &mut C) -> Plan {
        let plan = self.step(s);
        for a in plan.actions() {
            let o = apply(a, c);
            self.outcome(a, &o);
        }
        plan
    }
}
