//! The counters of one run: what the guest, the reporter, the VMBus and the hosts did, and
//! the invariant checks. Filled by the engine and the host side, read by the output code.

use serde_json::Value;
use std::string::String;
use std::vec::Vec;

/// Counters of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counters {
    /// Hypercalls issued by the guest.
    pub hypercalls: u64,
    /// Heat-hint ranges sent.
    pub hint_ranges: u64,
    /// Bytes reported (cold-discarded) successfully.
    pub bytes_reported: u64,
    /// Reporting passes.
    pub passes: u64,
    /// Reporting batches (report calls).
    pub batches: u64,
    /// VMBus packets guest → host.
    pub vmbus_to_host: u64,
    /// VMBus packets host → guest.
    pub vmbus_to_guest: u64,
    /// Guest-side counters.
    pub guest: crate::guest::GuestStats,
    /// Refaults and memory stall (what the reclaim policies read).
    pub working_set: crate::guest::WorkingSet,
    /// Invariant checks done.
    pub invariant_checks: u64,
    /// Invariant violations (empty in a correct run).
    pub violations: Vec<String>,
    /// Host-side notes (DM host ledger summary, balloon/hot-add counts).
    pub host: Value,
}
