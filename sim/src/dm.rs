//! Hyper-V dynamic memory mode: the real DM driver ([`hv_dynmem::driver::Driver`]) in the guest and
//! the simulated DM host ([`hv_dynmem::sim::dm_host::DmHost`], Hyper-V policy) talking over the
//! simulated VMBus (`vmbus::sim`), with the guest model behind the driver's OS trait.
//!
//! The host's ledger drives the simulated hypervisor: frames the guest balloons out are
//! discarded (no longer host-committed), frames the host unballoons or hot-adds are backed.

use super::guest::Guest;
use super::scenario::{HostMode, Scenario};
use super::trace::{RecordingChannel, SharedLog};
use hv_dynmem::driver::{Config, Driver, Event, RangeSet};
use hv_dynmem::os::{AddMemoryError, GuestMemory, MemStats, Pfn};
use hv_dynmem::sim::dm_host::{DmHost, HostChannel as _, HostConfig, HyperVParams, Policy};
use hvcall::sim::SimHypervisor;
use serde_json::{Value, json};
use std::format;
use std::prelude::rust_2024::*;

/// Linux's default memory block: 128 MiB.
const BLOCK_PAGES: u64 = 32_768;

/// The DM driver, the DM host and the VMBus between them.
pub struct DmSide {
    driver: Driver,
    host: DmHost,
    guest_ch: RecordingChannel<vmbus::sim::GuestEndpoint>,
    host_ch: vmbus::sim::HostEndpoint,
    added: Vec<(u64, u64)>,
    /// Ballooned frames the hypervisor has already discarded.
    synced: RangeSet,
    boot_pages: u64,
    last_now: u64,
    events: Vec<String>,
    refused_frees: u64,
    connected_at: Option<u64>,
}

/// The guest model seen through the driver's OS trait.
struct OsView<'a> {
    guest: &'a mut Guest,
    added: &'a mut Vec<(u64, u64)>,
    boot_pages: u64,
    refused: &'a mut u64,
}

impl GuestMemory for OsView<'_> {
    fn stats(&self) -> MemStats {
        let wm = self.guest.buddy().watermarks();
        let free = self.guest.free_pages();
        MemStats {
            available: (free + self.guest.cache_pages()).saturating_sub(wm.low),
            committed: self.guest.anon_pages() + self.guest.kernel_pages(),
            total: self.guest.online_pages(),
        }
    }

    fn alloc_block(&mut self, order: u8) -> Option<Pfn> {
        self.guest.balloon_alloc(order)
    }

    fn set_offline(&mut self, _pfn: Pfn, count: u64) {
        self.guest.balloon_offline(count);
    }

    fn free_offline(&mut self, pfn: Pfn, count: u64) {
        *self.refused += self.guest.balloon_free(pfn, count);
    }

    fn memory_block_pages(&self) -> u64 {
        BLOCK_PAGES
    }

    fn add_memory(&mut self, start: Pfn, pages: u64) -> Result<(), AddMemoryError> {
        let end = start.saturating_add(pages);
        if start < self.boot_pages || self.added.iter().any(|&(s, e)| start < e && s < end) {
            return Err(AddMemoryError::AlreadyExists);
        }
        if end > self.guest.buddy().end_pfn() {
            return Err(AddMemoryError::Failed);
        }
        self.added.push((start, end));
        Ok(())
    }

    fn online_pages(&mut self, start: Pfn, pages: u64) -> u64 {
        let end = start.saturating_add(pages);
        if !self.added.iter().any(|&(s, e)| s <= start && end <= e) {
            return 0;
        }
        // The host backs what it hot-adds.
        self.guest
            .harness_mut()
            .hypervisor_mut()
            .guest_touch(start, pages);
        self.guest.online(start, pages)
    }
}

/// `a − b` for sorted, disjoint half-open ranges.
fn range_diff(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = s;
        while j < b.len() && b[j].1 <= cur {
            j += 1;
        }
        let mut k = j;
        while cur < e {
            match b.get(k) {
                Some(&(bs, be)) if bs < e => {
                    if bs > cur {
                        out.push((cur, bs));
                    }
                    cur = cur.max(be);
                    k += 1;
                }
                _ => {
                    out.push((cur, e));
                    cur = e;
                }
            }
        }
    }
    out
}

impl DmSide {
    /// Sets up the DM side for `sc` (Hyper-V mode).
    pub fn new(sc: &Scenario, log: SharedLog) -> Result<Self, String> {
        let frames = sc.guest.memory.0 / 4096;
        let boot = sc.host.startup.map_or(frames, |s| s.0 / 4096);
        let min = sc.host.minimum.map_or(boot, |m| m.0 / 4096);
        let params = HyperVParams {
            min_pages: min,
            max_pages: frames,
            buffer_percent: u64::from(sc.host.buffer.unwrap_or(20)),
            ..HyperVParams::default()
        };
        let cfg = match sc.host.mode {
            // WSL2: a fixed-size VM. The DM VSP is there (the guest's driver binds, negotiates
            // and reports pressure; the host sends the maximum-size info message after its quiet
            // period) but it never balloons or hot-adds.
            HostMode::Wsl2 => {
                let mut cfg = HostConfig::new(Policy::Manual, frames);
                cfg.send_info = true;
                cfg.hot_add_pages = 0;
                cfg
            }
            HostMode::Hyperv => {
                let mut cfg = HostConfig::new(Policy::HyperV(params), boot);
                // Hot-add space follows the boot RAM (above 4 GiB once the boot RAM or the
                // maximum reaches the low-memory boundary; see `layout`).
                let layout = sc.layout();
                cfg.hot_add_base = layout.hot_add_pfn.next_multiple_of(BLOCK_PAGES);
                cfg.hot_add_pages = layout.end_pfn.saturating_sub(cfg.hot_add_base);
                cfg
            }
        };
        let host = DmHost::new(cfg);
        let bus = vmbus::sim::SimVmbus::dm();
        Ok(Self {
            driver: Driver::new(Config::default(), BLOCK_PAGES),
            host,
            guest_ch: RecordingChannel::new(bus.guest(), log),
            host_ch: bus.host(),
            added: Vec::new(),
            synced: RangeSet::new(),
            boot_pages: sc.layout().hot_add_pfn,
            last_now: 0,
            events: Vec::new(),
            refused_frees: 0,
            connected_at: None,
        })
    }

    /// Starts the driver (it sends its first version request).
    pub fn start(&mut self, now: u64) {
        self.driver.start(&mut self.guest_ch, now);
    }

    fn fingerprint(&self) -> (u64, u64, u64) {
        let c = self.guest_ch.inner().counters();
        let d = self.driver.counters();
        (
            c.guest_to_host.packets_sent + c.host_to_guest.packets_sent,
            d.messages_received,
            self.host.ledger.ballooned.pages(),
        )
    }

    /// Runs host and driver at `now` until nothing changes.
    pub fn poll(&mut self, now: u64, guest: &mut Guest) {
        self.last_now = now;
        for _ in 0..10_000 {
            let before = self.fingerprint();
            self.host_ch.tick();
            self.host.poll(&mut self.host_ch, now);
            {
                let mut os = OsView {
                    guest: &mut *guest,
                    added: &mut self.added,
                    boot_pages: self.boot_pages,
                    refused: &mut self.refused_frees,
                };
                self.driver
                    .on_channel_interrupt(&mut self.guest_ch, &mut os, now);
                if self.driver.next_deadline().is_some_and(|d| d <= now) {
                    self.driver.poll(&mut self.guest_ch, &mut os, now);
                }
            }
            while let Some(e) = self.driver.poll_event() {
                if matches!(e, Event::Connected { .. }) && self.connected_at.is_none() {
                    self.connected_at = Some(now);
                }
                self.events.push(format!("{now}: {e:?}"));
            }
            self.sync_ledger(guest.harness_mut().hypervisor_mut());
            if before == self.fingerprint() {
                break;
            }
        }
    }

    /// Makes the hypervisor follow the host's balloon ledger.
    fn sync_ledger(&mut self, hv: &mut SimHypervisor) {
        let ledger = &self.host.ledger.ballooned;
        if ledger.pages() == self.synced.pages() && ledger.ranges() == self.synced.ranges() {
            return;
        }
        // Newly ballooned: discard. Given back: back again.
        let now: Vec<(u64, u64)> = ledger.iter().collect();
        let before: Vec<(u64, u64)> = self.synced.iter().collect();
        let new_runs: Vec<(u64, u64)> = range_diff(&now, &before)
            .into_iter()
            .map(|(s, e)| (s, e - s))
            .collect();
        super::hv::host_discard(hv, &new_runs);
        for (s, e) in range_diff(&before, &now) {
            hv.guest_touch(s, e - s);
        }
        self.synced = ledger.clone();
    }

    /// Next deadline of the driver or the host (deadlines already passed are dropped: the
    /// host retries its work at the driver's next status report).
    pub fn next_deadline(&self) -> Option<u64> {
        [self.driver.next_deadline(), self.host.next_deadline()]
            .into_iter()
            .flatten()
            .filter(|&d| d > self.last_now)
            .min()
    }

    /// Host-side protocol violations by the guest, and frees the driver asked for of frames
    /// that were not ballooned.
    pub fn check(&mut self, violations: &mut Vec<String>) {
        for v in &self.host.violations {
            violations.push(format!(
                "DM host: guest protocol violation at {} ns: {:?}: {}",
                v.at, v.kind, v.detail
            ));
        }
        self.host.violations.clear();
        if self.refused_frees > 0 {
            violations.push(format!(
                "DM driver freed {} frames that were not ballooned",
                self.refused_frees
            ));
            self.refused_frees = 0;
        }
    }

    /// A summary for the JSON output.
    pub fn summary(&self) -> Value {
        let c = self.driver.counters();
        json!({
            "negotiated": self.host.negotiated.map(|v| format!("{v:?}")),
            "driver_state": format!("{:?}", c.state),
            "pages_ballooned": c.pages_ballooned,
            "pages_added": c.pages_added,
            "pages_onlined": c.pages_onlined,
            "status_reports": self.host.status_reports.len(),
            "balloon_responses": self.host.balloon_responses.len(),
            "unballoon_responses": self.host.unballoon_responses,
            "hot_add_responses": self.host.hot_add_responses.len(),
            "host_ledger_ballooned": self.host.ledger.ballooned.pages(),
            "host_ledger_added": self.host.ledger.added.pages(),
            "events": self.events,
        })
    }

    /// When the driver finished its handshake (Linux registers free page reporting then).
    pub fn connected_at(&self) -> Option<u64> {
        self.connected_at
    }

    /// Pages the host currently gives the VM (its view).
    pub fn current_pages(&self) -> u64 {
        self.host.current_pages()
    }
}

#[cfg(test)]
mod tests {
    use super::range_diff;

    #[test]
    fn range_difference() {
        assert_eq!(
            range_diff(&[(0, 10)], &[(2, 4), (6, 7)]),
            [(0, 2), (4, 6), (7, 10)]
        );
        assert_eq!(
            range_diff(&[(0, 10), (20, 30)], &[(5, 25)]),
            [(0, 5), (25, 30)]
        );
        assert_eq!(range_diff(&[(0, 10)], &[]), [(0, 10)]);
        assert!(range_diff(&[(3, 5)], &[(0, 10)]).is_empty());
    }
}
