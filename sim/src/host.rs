//! The host side of a run: the simulated hypervisor (`hvcall::sim::SimHypervisor`, inside the
//! guest's nothing-lost harness) whose backed-frame count is the VM's host-committed memory,
//! and the real Hyper-V cold-discard reporter (`hv_reporting::HvReporter`) issuing heat hints
//! to it through a recording backend.
//!
//! WSL2 mode: a fixed-size VM with deferred commit (a frame is backed on its first write) and
//! cold-discard hints. The simulated hypervisor starts with all RAM backed, so at setup the
//! whole guest is cold-discarded once through its own hypercall ABI (outside the recorded
//! trace, before any guest data exists): from then on backing follows the guest's writes, as
//! `EnableDeferredCommit` does.
//!
//! Hyper-V mode: the startup memory is backed, the rest is hot-add space. In both modes the
//! real DM driver and the simulated DM host run in [`super::dm`] (in WSL2 mode the host never
//! balloons or hot-adds).

use super::counters::Counters;
use super::dm::DmSide;
use super::guest::Guest;
pub use super::hv::host_discard;
use super::layout::MemoryLayout;
use super::scenario::{HostMode, Scenario};
use super::trace::{Recording, SharedLog};
use core::time::Duration;
use hv_reporting::hyperv::HvReporterConfig;
use hv_reporting::{HvReporter, ReportingEngine};
use hvcall::sim::SimHypervisor;
use std::format;
use std::prelude::rust_2024::*;

/// Why the host could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The DM side could not be set up.
    #[error("dynamic memory setup failed: {0}")]
    Dm(String),
}

/// The reporter, the trace log and (Hyper-V mode) the DM side.
pub struct Host {
    reporter: HvReporter,
    log: SharedLog,
    check: bool,
    notes: Vec<String>,
    dm: Option<DmSide>,
    boot_online: u64,
    layout: MemoryLayout,
    wsl2: bool,
}

impl Host {
    /// Sets up the host for `sc`. Call [`Host::setup_hypervisor`] on the guest's hypervisor
    /// before the guest writes anything, then [`Host::probe`].
    pub fn new(sc: &Scenario, check: bool, log: SharedLog) -> Result<Self, HostError> {
        let boot_online = sc.boot_frames();
        let layout = sc.layout();
        let dm = Some(DmSide::new(sc, log.clone()).map_err(HostError::Dm)?);
        Ok(Self {
            reporter: HvReporter::with_state(
                HvReporterConfig::default(),
                hv_reporting::hyperv::ReporterState::Enabled,
            ),
            log,
            check,
            notes: Vec::new(),
            dm,
            boot_online,
            layout,
            wsl2: sc.host.mode == HostMode::Wsl2,
        })
    }

    /// The host's initial backing: WSL2 backs nothing (deferred commit); Hyper-V backs the
    /// startup memory only. The MMIO hole is never backed.
    pub fn setup_hypervisor(&self, hv: &mut SimHypervisor) {
        let l = &self.layout;
        host_discard(hv, &[(l.boot_end_pfn, l.end_pfn - l.boot_end_pfn)]);
        // The MMIO hole is not RAM: nothing backs it.
        host_discard(hv, &l.holes());
        if self.wsl2 {
            host_discard(hv, &[(0, l.end_pfn)]);
        }
    }

    /// The reporter probes exactly as hv_balloon does (privilege, then capabilities), through
    /// the recording backend so the query is in the trace.
    pub fn probe(&mut self, guest: &mut Guest) {
        let hv = guest.harness_mut().hypervisor_mut();
        let cpu = hv.cpuid_view();
        let mut rec = Recording::new(hv, self.log.clone());
        self.reporter = HvReporter::probe(&mut rec, &cpu, HvReporterConfig::default());
    }

    /// Frames online at boot.
    pub fn boot_online_frames(&self) -> u64 {
        self.boot_online
    }

    /// Whether the reporter enabled itself (capability and privilege present).
    pub fn reporter_enabled(&self) -> bool {
        self.reporter.is_enabled()
    }

    /// Host-committed memory in frames.
    pub fn committed_frames(&self, guest: &Guest) -> u64 {
        guest.harness().hypervisor().backed_frames()
    }

    /// Runs the reporting engine's due pass: each batch is reported through the Hyper-V
    /// reporter to the simulated hypervisor, its discards are checked against live guest data
    /// (the harness poisons them and flags any allocated frame), and the batch is completed.
    pub fn report_pass(&mut self, engine: &mut ReportingEngine, guest: &mut Guest, now: Duration) {
        engine.set_order_floor(self.reporter.order_floor());
        while let Some(batch) = engine.poll(guest.buddy_mut(), now).map(<[_]>::to_vec) {
            let r = {
                let mut rec =
                    Recording::new(guest.harness_mut().hypervisor_mut(), self.log.clone());
                self.reporter.report(&mut rec, batch.iter().copied())
            };
            guest.harness_mut().absorb_discards();
            engine.complete(guest.buddy_mut(), r);
            engine.set_order_floor(self.reporter.order_floor());
        }
        if let Some(reason) = self.reporter.poll_disable() {
            self.notes
                .push(format!("reporter disabled itself: {reason}"));
            engine.unregister(guest.buddy_mut());
        }
    }

    /// Starts the DM driver (Hyper-V mode).
    pub fn start(&mut self, now: u64) {
        if let Some(dm) = self.dm.as_mut() {
            dm.start(now);
        }
    }

    /// Runs the DM driver and host (Hyper-V mode).
    pub fn poll(&mut self, now: u64, guest: &mut Guest) {
        if let Some(dm) = self.dm.as_mut() {
            dm.poll(now, guest);
        }
    }

    /// When the DM driver connected (free page reporting is registered then, as in Linux).
    pub fn connected_at(&self) -> Option<u64> {
        self.dm.as_ref().and_then(DmSide::connected_at)
    }

    /// The next DM deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.dm.as_ref().and_then(DmSide::next_deadline)
    }

    /// Invariant checks: the allocator's own and (with checks on) every live frame's data.
    pub fn check(&mut self, guest: &mut Guest) {
        if let Err(e) = guest.buddy().check_invariants() {
            self.notes.push(format!("VIOLATION: buddy allocator: {e}"));
        }
        if self.check {
            guest.harness_mut().verify();
        }
        if let Some(dm) = self.dm.as_mut() {
            dm.check(&mut self.notes);
        }
    }

    /// Final counters and violations.
    pub fn finish(&mut self, guest: &Guest, counters: &mut Counters) {
        let r = self.reporter.stats();
        let h = guest.harness();
        let sim = h.hypervisor().stats();
        let mut host = serde_json::json!({
            "reporter_enabled": self.reporter.is_enabled(),
            "reporter_state": format!("{:?}", self.reporter.state()),
            "reporter_batches": r.batches,
            "reporter_hypercalls": r.hypercalls,
            "heat_hint_calls": sim.heat_hint_calls,
            "frames_discarded": sim.frames_discarded,
            "frames_refaulted": sim.frames_refaulted,
            "harness": format!("{:?}", h.stats()),
            "notes": self.notes.iter().filter(|n| !n.starts_with("VIOLATION")).collect::<Vec<_>>(),
        });
        if let Some(dm) = self.dm.as_ref() {
            if let Some(o) = host.as_object_mut() {
                o.insert("dm".into(), dm.summary());
            }
        }
        counters.host = host;
        counters
            .violations
            .extend(h.violations().iter().map(|v| v.to_string()));
        counters.violations.extend(
            self.notes
                .iter()
                .filter_map(|n| n.strip_prefix("VIOLATION: ").map(String::from)),
        );
    }
}
