//! Host-side operations on the simulated hypervisor that are not guest reports.

use hvcall::sim::SimHypervisor;
use hvcall::{FreeRun, HeatType, Hypercalls, RangeOptions};
use std::vec::Vec;

/// Cold-discards `[first, first + count)` through the hypervisor's own ABI (host-side setup,
/// not a guest report) and drops the discard records.
pub fn host_discard(hv: &mut SimHypervisor, runs: &[(u64, u64)]) {
    let runs: Vec<FreeRun> = runs
        .iter()
        .filter(|r| r.1 > 0)
        .map(|&(s, n)| FreeRun::new(s, n))
        .collect();
    if runs.is_empty() {
        return;
    }
    let mut hc = Hypercalls::new(&mut *hv);
    if let Err(e) = hc.heat_hint_runs(HeatType::COLD_DISCARD, runs, RangeOptions::LINUX) {
        log::warn!("sim host: discard failed: {e:?}");
    }
    let _ = hv.take_discards();
}
