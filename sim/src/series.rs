//! Time series of a run and the reclaim metrics computed from it.

use serde::Serialize;
use std::prelude::rust_2024::*;
use std::vec::Vec;

/// One sample of a run, all sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Simulated time, ns.
    pub t_ns: u64,
    /// Guest RAM currently online (WSL2: the VM size; Hyper-V: what the guest has).
    pub total: u64,
    /// Anonymous memory of processes plus kernel memory.
    pub used: u64,
    /// Page cache.
    pub cache: u64,
    /// Free in the guest (buddy free lists, including reported blocks).
    pub free: u64,
    /// Host-committed memory: frames the host backs for this VM.
    pub host_committed: u64,
}

/// How fast the memory freed at the end of the workload went back to the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReclaimMetrics {
    /// When the workload ended, ns.
    pub mark_ns: u64,
    /// Host-committed at that moment.
    pub committed_at_mark: u64,
    /// Host-committed at the end of the run.
    pub committed_at_end: u64,
    /// Highest host-committed during the run.
    pub committed_peak: u64,
    /// What could go back: committed at the mark minus what the guest still uses (anon +
    /// kernel + page cache) at the end.
    pub returnable: u64,
    /// What went back: committed at the mark minus committed at the end (≥ 0).
    pub returned: u64,
    /// Seconds after the mark until 50 %, 90 % and 99 % of `returnable` was back (`None`:
    /// never during the run).
    pub t50_s: Option<f64>,
    /// See `t50_s`.
    pub t90_s: Option<f64>,
    /// See `t50_s`.
    pub t99_s: Option<f64>,
    /// Seconds after the mark of the first heat-hint hypercall (`None`: none).
    pub first_report_s: Option<f64>,
    /// Distinct times (seconds after the mark) at which heat hints were issued: one per
    /// reporting pass that reported something.
    pub report_passes_s: Vec<f64>,
}

/// Computes the metrics of `samples` with the workload ending at `mark_ns`.
pub fn metrics(samples: &[Sample], mark_ns: u64, hint_times_ns: &[u64]) -> Option<ReclaimMetrics> {
    let last = samples.last()?;
    let at_mark = samples
        .iter()
        .rev()
        .find(|s| s.t_ns <= mark_ns)
        .unwrap_or(samples.first()?);
    let committed_at_mark = at_mark.host_committed;
    let committed_peak = samples.iter().map(|s| s.host_committed).max().unwrap_or(0);
    let still_used = last.used + last.cache;
    let returnable = committed_at_mark.saturating_sub(still_used);
    let returned = committed_at_mark.saturating_sub(last.host_committed);
    let time_to = |frac: f64| -> Option<f64> {
        if returnable == 0 {
            return Some(0.0);
        }
        let need = (returnable as f64 * frac).ceil() as u64;
        samples
            .iter()
            .filter(|s| s.t_ns >= mark_ns)
            .find(|s| committed_at_mark.saturating_sub(s.host_committed) >= need)
            .map(|s| (s.t_ns - mark_ns) as f64 / 1e9)
    };
    let mut passes: Vec<f64> = Vec::new();
    for &t in hint_times_ns.iter().filter(|&&t| t >= mark_ns) {
        let rel = (t - mark_ns) as f64 / 1e9;
        if passes.last() != Some(&rel) {
            passes.push(rel);
        }
    }
    Some(ReclaimMetrics {
        first_report_s: passes.first().copied(),
        report_passes_s: passes,
        mark_ns,
        committed_at_mark,
        committed_at_end: last.host_committed,
        committed_peak,
        returnable,
        returned,
        t50_s: time_to(0.5),
        t90_s: time_to(0.9),
        t99_s: time_to(0.99),
    })
}

/// Host-committed at evenly spaced times (for the summary's "over time" row).
pub fn committed_at_times(samples: &[Sample], times_ns: &[u64]) -> Vec<u64> {
    times_ns
        .iter()
        .map(|&t| {
            samples
                .iter()
                .rev()
                .find(|s| s.t_ns <= t)
                .map_or(0, |s| s.host_committed)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_find_the_crossings() {
        let g = 1u64 << 30;
        let s: Vec<Sample> = (0..10u64)
            .map(|i| Sample {
                t_ns: i * 1_000_000_000,
                total: 4 * g,
                used: g,
                cache: 0,
                free: 3 * g,
                host_committed: if i < 2 {
                    3 * g
                } else {
                    (3 * g).saturating_sub((i - 1) * g / 4).max(g)
                },
            })
            .collect();
        let m = metrics(
            &s,
            1_000_000_000,
            &[500_000_000, 3_000_000_000, 3_000_000_000, 5_000_000_000],
        )
        .unwrap();
        assert_eq!(m.first_report_s, Some(2.0));
        assert_eq!(m.report_passes_s, [2.0, 4.0]);
        assert_eq!(m.returnable, 2 * g);
        assert_eq!(m.returned, 2 * g);
        assert_eq!(m.t50_s, Some(4.0));
        assert_eq!(m.t99_s, Some(8.0));
        assert_eq!(committed_at_times(&s, &[0, 9_000_000_000]), [3 * g, g]);
    }
}
