//! The host side of a run: the simulated hypervisor (`hvcall::sim::SimHypervisor`) whose
//! backed-frame count is the VM's host-committed memory, the real Hyper-V cold-discard reporter
//! (`hv_reporting::HvReporter`) issuing heat hints to it, and the data plane that turns the
//! guest's writes into host backing.
//!
//! WSL2 mode: a fixed-size VM with deferred commit (a frame is backed on its first write) and
//! cold-discard hints. The simulated hypervisor starts with all RAM backed, so at setup the
//! whole guest is cold-discarded once through its own hypercall ABI (outside the recorded
//! trace): from then on backing follows the guest's writes, as `EnableDeferredCommit` does.
//!
//! Hyper-V mode adds the real DM driver and the simulated DM host; see [`super::dm`].

use super::dm::DmSide;
use super::engine::Counters;
use super::guest::{DataPlane, Guest};
use super::scenario::{HostMode, Scenario};
use super::trace::{Recording, SharedLog};
use crate::reporting::hyperv::HvReporterConfig;
use crate::reporting::{FreeMemory, HvReporter, ReportingEngine};
use core::time::Duration;
use hvcall::sim::SimHypervisor;
use hvcall::{FreeRun, HeatType, Hypercalls, RangeOptions};
use std::format;
use std::prelude::rust_2024::*;
use std::string::String;
use std::vec::Vec;

/// Why the host could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The initial discard that models deferred commit failed.
    #[error("deferred-commit setup failed: {0}")]
    Setup(String),
    /// The DM side could not be set up.
    #[error("dynamic memory setup failed: {0}")]
    Dm(String),
}

/// The hypervisor, the reporter and (Hyper-V mode) the DM side.
pub struct Host {
    hv: Recording<SimHypervisor>,
    reporter: HvReporter,
    check: bool,
    /// Per-frame "live data" marks kept for the nothing-lost checks (only with checks on).
    live: Vec<u64>,
    violations: Vec<String>,
    discarded_frames: u64,
    dm: Option<DmSide>,
    boot_online: u64,
}

/// The guest's data plane: writes back frames on the host.
pub struct Plane<'a> {
    hv: &'a mut SimHypervisor,
    live: Option<&'a mut Vec<u64>>,
    violations: &'a mut Vec<String>,
}

fn set_bits(bits: &mut [u64], first: u64, count: u64, on: bool) {
    let mut p = first;
    let end = first + count;
    while p < end {
        let w = (p / 64) as usize;
        let b = p % 64;
        let n = (64 - b).min(end - p);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << b
        };
        if let Some(word) = bits.get_mut(w) {
            if on {
                *word |= mask;
            } else {
                *word &= !mask;
            }
        }
        p += n;
    }
}

fn any_bit(bits: &[u64], first: u64, count: u64) -> Option<u64> {
    (first..first + count).find(|&p| {
        bits.get((p / 64) as usize)
            .is_some_and(|w| w & (1 << (p % 64)) != 0)
    })
}

impl DataPlane for Plane<'_> {
    fn write(&mut self, pfn: u64, pages: u64) {
        self.hv.guest_touch(pfn, pages);
        if let Some(live) = self.live.as_deref_mut() {
            set_bits(live, pfn, pages, true);
        }
    }

    fn release(&mut self, pfn: u64, pages: u64) {
        if let Some(live) = self.live.as_deref_mut() {
            set_bits(live, pfn, pages, false);
        }
    }

    fn migrate(&mut self, from: u64, to: u64, pages: u64) {
        // Copy: the source must still hold its data (backed), the destination is written.
        if self.live.is_some() {
            if let Some(p) = (from..from + pages).find(|&p| !self.hv.is_backed(p)) {
                self.violations.push(format!(
                    "frame {p:#x}: live data lost before migration (unbacked)"
                ));
            }
        }
        self.hv.guest_touch(to, pages);
        if let Some(live) = self.live.as_deref_mut() {
            set_bits(live, to, pages, true);
            set_bits(live, from, pages, false);
        }
    }
}

impl Host {
    /// Sets up the host for `sc`.
    pub fn new(sc: &Scenario, check: bool, log: SharedLog) -> Result<Self, HostError> {
        let frames = sc.guest.memory.0 / 4096;
        let mut sim = SimHypervisor::new(frames);
        let boot_online;
        match sc.host.mode {
            HostMode::Wsl2 => {
                // Deferred commit: nothing is backed until the guest writes it.
                let mut hc = Hypercalls::new(&mut sim);
                hc.heat_hint_runs(
                    HeatType::COLD_DISCARD,
                    [FreeRun::new(0, frames)],
                    RangeOptions::LINUX,
                )
                .map_err(|e| HostError::Setup(format!("{e:?}")))?;
                let _ = sim.take_discards();
                boot_online = frames;
            }
            HostMode::Hyperv => {
                let startup = sc.host.startup.map_or(frames, |s| s.0 / 4096);
                // Hyper-V backs the startup memory; the rest is hot-add space, unbacked.
                if startup < frames {
                    let mut hc = Hypercalls::new(&mut sim);
                    hc.heat_hint_runs(
                        HeatType::COLD_DISCARD,
                        [FreeRun::new(startup, frames - startup)],
                        RangeOptions::LINUX,
                    )
                    .map_err(|e| HostError::Setup(format!("{e:?}")))?;
                    let _ = sim.take_discards();
                }
                boot_online = startup;
            }
        }
        let cpu = sim.cpuid_view();
        let mut hv = Recording::new(sim, log.clone());
        // The reporter probes exactly as hv_balloon does (privilege, then capabilities).
        let reporter = HvReporter::probe(&mut hv, &cpu, HvReporterConfig::default());
        let dm = match sc.host.mode {
            HostMode::Wsl2 => None,
            HostMode::Hyperv => Some(DmSide::new(sc, log).map_err(HostError::Dm)?),
        };
        let words = if check {
            frames.div_ceil(64) as usize
        } else {
            0
        };
        Ok(Self {
            hv,
            reporter,
            check,
            live: std::vec![0; words],
            violations: Vec::new(),
            discarded_frames: 0,
            dm,
            boot_online,
        })
    }

    /// Frames online at boot.
    pub fn boot_online_frames(&self) -> u64 {
        self.boot_online
    }

    /// The data plane for the guest.
    pub fn plane(&mut self) -> Plane<'_> {
        Plane {
            hv: self.hv.inner_mut(),
            live: if self.check {
                Some(&mut self.live)
            } else {
                None
            },
            violations: &mut self.violations,
        }
    }

    /// Whether the reporter enabled itself (capability and privilege present).
    pub fn reporter_enabled(&self) -> bool {
        self.reporter.is_enabled()
    }

    /// Host-committed memory in frames.
    pub fn committed_frames(&self) -> u64 {
        self.hv.inner().backed_frames()
    }

    /// Runs the reporting engine's due pass against the reporter and the hypervisor, then
    /// checks every discarded frame against the guest's live data.
    pub fn report_pass(&mut self, engine: &mut ReportingEngine, guest: &mut Guest, now: Duration) {
        {
            let mut sink = self.reporter.sink(&mut self.hv);
            engine.run(&mut guest.buddy, &mut sink, now);
        }
        if let Some(reason) = self.reporter.poll_disable() {
            self.violations
                .push(format!("note: reporter disabled itself: {reason}"));
            engine.unregister(&mut guest.buddy);
        }
        let discards = self.hv.inner_mut().take_discards();
        for d in discards {
            self.discarded_frames += d.frame_count;
            if self.check {
                if let Some(p) = any_bit(&self.live, d.first_pfn, d.frame_count) {
                    self.violations.push(format!(
                        "frame {p:#x}: discarded by the host while holding live guest data"
                    ));
                }
                // A discarded frame must be free in the guest (on a free list, reported).
                let mut p = d.first_pfn;
                while p < d.first_pfn + d.frame_count {
                    match guest.buddy.free_block_at(0, p) {
                        Some(fb) => p += 1 << fb.order,
                        None => {
                            self.violations.push(format!(
                                "frame {p:#x}: discarded but not the head of a free block"
                            ));
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Starts the DM driver (Hyper-V mode).
    pub fn start(&mut self, now: u64, guest: &mut Guest) {
        if let Some(dm) = self.dm.as_mut() {
            dm.start(now, guest, self.hv.inner_mut());
        }
    }

    /// Runs the DM driver and host (Hyper-V mode).
    pub fn poll(&mut self, now: u64, guest: &mut Guest) {
        if let Some(dm) = self.dm.as_mut() {
            let live = if self.check {
                Some(&mut self.live)
            } else {
                None
            };
            dm.poll(now, guest, self.hv.inner_mut(), live);
        }
    }

    /// The next DM deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.dm.as_ref().and_then(DmSide::next_deadline)
    }

    /// Invariant checks: the allocator's own, and every live frame still backed.
    pub fn check(&mut self, guest: &Guest) {
        if let Err(e) = guest.buddy.check_invariants() {
            self.violations.push(format!("buddy allocator: {e}"));
        }
        if !self.check {
            return;
        }
        let hv = self.hv.inner();
        for (w, word) in self.live.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                let p = w as u64 * 64 + u64::from(b);
                if !hv.is_backed(p) {
                    self.violations
                        .push(format!("frame {p:#x}: live guest data was discarded"));
                    return;
                }
            }
        }
        if let Some(dm) = self.dm.as_mut() {
            dm.check(&mut self.violations);
        }
    }

    /// Final counters.
    pub fn finish(&mut self, guest: &Guest, counters: &mut Counters) {
        let _ = guest;
        let r = self.reporter.stats();
        let sim = self.hv.inner().stats();
        let mut host = serde_json::json!({
            "reporter_enabled": self.reporter.is_enabled(),
            "reporter": format!("{r:?}"),
            "heat_hint_calls": sim.heat_hint_calls,
            "frames_discarded": sim.frames_discarded,
            "frames_refaulted": sim.frames_refaulted,
            "discarded_frames_seen": self.discarded_frames,
        });
        if let Some(dm) = self.dm.as_ref() {
            if let Some(o) = host.as_object_mut() {
                o.insert("dm".into(), dm.summary());
            }
        }
        counters.host = host;
        counters.violations.extend(
            self.violations
                .iter()
                .filter(|v| !v.starts_with("note:"))
                .cloned(),
        );
    }
}
