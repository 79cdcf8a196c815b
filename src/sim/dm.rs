//! Hyper-V dynamic memory mode: the real DM driver in the guest and the simulated DM host,
//! talking over the simulated VMBus.

use super::guest::Guest;
use super::scenario::Scenario;
use super::trace::SharedLog;
use hvcall::sim::SimHypervisor;
use serde_json::Value;
use std::prelude::rust_2024::*;
use std::string::String;
use std::vec::Vec;

/// The DM driver, the DM host and the VMBus between them.
pub struct DmSide {
    _private: (),
}

impl DmSide {
    /// Sets up the DM side for `sc`.
    pub fn new(_sc: &Scenario, _log: SharedLog) -> Result<Self, String> {
        Err("Hyper-V dynamic memory mode is being integrated".into())
    }
    /// Starts the driver.
    pub fn start(&mut self, _now: u64, _guest: &mut Guest, _hv: &mut SimHypervisor) {}
    /// Runs what is due.
    pub fn poll(
        &mut self,
        _now: u64,
        _guest: &mut Guest,
        _hv: &mut SimHypervisor,
        _live: Option<&mut Vec<u64>>,
    ) {
    }
    /// Next deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        None
    }
    /// Host-side protocol violations.
    pub fn check(&mut self, _violations: &mut Vec<String>) {}
    /// Summary.
    pub fn summary(&self) -> Value {
        Value::Null
    }
}
