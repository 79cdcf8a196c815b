//! The reclaim simulator (feature `sim`): a deterministic guest model driven by scenarios, the
//! real reporting engine, reporter, DM driver and simulated hosts, and the `hv-dynmem` command
//! line. See `docs/simulator.md`.
pub mod cli;
pub mod dm;
pub mod dm_host;
pub mod engine;
pub mod fake_os;
pub mod guest;
pub mod host;
pub mod plot;
pub mod proc;
pub mod reclaim;
pub mod rng;
pub mod scenario;
pub mod series;
pub mod trace;
pub mod workload;
