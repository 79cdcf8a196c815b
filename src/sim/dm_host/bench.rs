//! A test bench: one driver, its guest memory, one host and a channel pair, stepped in
//! virtual time. Generic over the channel so the end-to-end tests run it on the simulated
//! VMBus and unit tests on [`super::pipe`].

use alloc::vec::Vec;

use vmbus::Channel;

use super::{DmHost, HostChannel};
use crate::driver::{Driver, Event};
use crate::os::GuestMemory;

/// Driver + memory + host + channels + a virtual clock (ns).
pub struct Bench<M: GuestMemory, G: Channel, H: HostChannel> {
    /// The guest driver.
    pub driver: Driver,
    /// The guest's memory.
    pub mem: M,
    /// The host.
    pub host: DmHost,
    /// Guest end of the channel.
    pub guest_ch: G,
    /// Host end of the channel.
    pub host_ch: H,
    /// Virtual time, ns.
    pub now: u64,
    /// Events the driver raised, in order.
    pub events: Vec<Event>,
}

/// Rounds [`Bench::settle`] runs before giving up (a livelock guard).
pub const MAX_SETTLE_ROUNDS: usize = 200_000;

impl<M: GuestMemory, G: Channel, H: HostChannel> Bench<M, G, H> {
    /// Assembles a bench at time 0. Call [`Bench::start`] to probe.
    pub fn new(driver: Driver, mem: M, host: DmHost, guest_ch: G, host_ch: H) -> Self {
        Self {
            driver,
            mem,
            host,
            guest_ch,
            host_ch,
            now: 0,
            events: Vec::new(),
        }
    }

    /// Probes: the driver sends its first version request.
    pub fn start(&mut self) {
        self.driver.start(&mut self.guest_ch, self.now);
        self.settle();
    }

    fn fingerprint(&self) -> [u64; 10] {
        let c = self.driver.counters();
        [
            c.messages_received,
            c.balloon_responses,
            c.status_reports,
            c.pages_ballooned,
            self.host.balloon_responses.len() as u64,
            self.host.unballoon_responses,
            self.host.hot_add_responses.len() as u64,
            self.host.version_requests.len() as u64,
            self.host.status_reports.len() as u64,
            c.state as u64 | (self.host.is_idle() as u64) << 8,
        ]
    }

    /// One round at the current time: host, then guest interrupt, then guest timers/work.
    pub fn round(&mut self) {
        self.host_ch.tick();
        self.host.poll(&mut self.host_ch, self.now);
        self.driver
            .on_channel_interrupt(&mut self.guest_ch, &mut self.mem, self.now);
        if self.driver.next_deadline().is_some_and(|d| d <= self.now) {
            self.driver
                .poll(&mut self.guest_ch, &mut self.mem, self.now);
        }
        while let Some(e) = self.driver.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs rounds at the current time until nothing changes and nothing is due.
    /// Returns the number of rounds run.
    ///
    /// # Panics
    ///
    /// If the driver and host are still busy after [`MAX_SETTLE_ROUNDS`] rounds at one instant
    /// (a livelock: a test bench must not hide one).
    pub fn settle(&mut self) -> usize {
        let mut quiet = 0;
        for i in 0..MAX_SETTLE_ROUNDS {
            let before = self.fingerprint();
            self.round();
            let due = self.driver.next_deadline().is_some_and(|d| d <= self.now)
                || self.host.next_deadline().is_some_and(|d| d <= self.now);
            if before == self.fingerprint() && !due {
                quiet += 1;
                if quiet >= 2 {
                    return i + 1;
                }
            } else {
                quiet = 0;
            }
        }
        panic!(
            "driver and host still busy after {MAX_SETTLE_ROUNDS} rounds at t = {} ns: livelock",
            self.now
        );
    }

    /// Advances virtual time to `t`, stopping at every deadline on the way.
    pub fn run_until(&mut self, t: u64) {
        loop {
            self.settle();
            let next = [self.driver.next_deadline(), self.host.next_deadline()]
                .into_iter()
                .flatten()
                .filter(|&d| d > self.now)
                .min();
            match next {
                Some(d) if d <= t => self.now = d,
                _ => {
                    self.now = t.max(self.now);
                    self.settle();
                    return;
                }
            }
        }
    }

    /// Advances virtual time by `dt` ns.
    pub fn advance(&mut self, dt: u64) {
        self.run_until(self.now + dt);
    }
}

#[cfg(feature = "sim")]
/// A bench over the simulated VMBus (the DM channel: 16 KiB rings each way).
pub fn on_sim_vmbus<M: GuestMemory>(
    driver: Driver,
    mem: M,
    host: DmHost,
) -> Bench<M, vmbus::sim::GuestEndpoint, vmbus::sim::HostEndpoint> {
    let sim = vmbus::sim::SimVmbus::dm();
    Bench::new(driver, mem, host, sim.guest(), sim.host())
}
