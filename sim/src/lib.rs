//! hv-sim: the whole-VM simulator of hv-dynmem.
//!
//! A deterministic guest model (a buddy allocator with page cache, anonymous memory, kswapd
//! and compaction) driven by scenarios and workloads, with the project's real code in the
//! loop: the DM driver (`hv-dynmem`) against the simulated DM host, the free page reporting
//! engine and the Hyper-V cold-discard reporter (`hv-reporting`) against the simulated
//! hypervisor (`hvcall::sim`), and the page-cache reclaim policies (`hv-reclaim`). Virtual
//! time jumps from deadline to deadline, so an hour of a 16 GiB guest takes about a second.
//! It records and replays traces, measures what goes back to the host, and plots it. It is
//! `std` and a library: the `hv-dynmem` command line (`cli/`) is a thin layer over it, and it
//! is not linked by the kernel module. See `docs/simulator.md`.
//!
//! Modules, in the one direction data flows: [`engine`] → [`host`] → [`dm`] → ([`guest`],
//! [`trace`], [`scenario`]); [`guest`] → ([`layout`], [`pcp`]); [`workload`], [`proc`], [`rng`], [`series`], [`counters`],
//! [`plot`] and [`hv`] depend on nothing above them.
#![forbid(unsafe_code)]

pub mod counters;
pub mod dm;
pub mod engine;
pub mod guest;
pub mod host;
pub mod hv;
pub mod layout;
pub mod pcp;
pub mod plot;
pub mod proc;
pub mod rng;
pub mod scenario;
pub mod series;
pub mod trace;
pub mod workload;
