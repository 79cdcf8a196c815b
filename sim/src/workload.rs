//! The workload: scenario steps (or a recorded trace) turned into guest operations over time.
//!
//! Steps spread over time (`over`) advance in slices of [`TICK_NS`]; a `churn` step runs
//! build-like jobs with the simulation's seeded generator; a recorded trace is replayed by
//! steering the guest's anonymous memory and page cache toward each sample.

use super::guest::Guest;
use super::proc::RecordedTrace;
use super::rng::Rng;
use super::scenario::{Action, NS_PER_SEC, Scenario};
use std::format;
use std::prelude::rust_2024::*;
use std::string::String;
use std::vec::Vec;

/// Workload slice length: 100 ms of simulated time.
pub const TICK_NS: u64 = NS_PER_SEC / 10;

const PAGE: u64 = 4096;

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE)
}

#[derive(Debug)]
struct Job {
    name: String,
    start: u64,
    end: u64,
    anon_target: u64,
    anon_done: u64,
    read_target: u64,
    read_done: u64,
}

#[derive(Debug)]
enum Activity {
    Alloc {
        process: String,
        total: u64,
        done: u64,
        start: u64,
        end: u64,
        touch: bool,
    },
    Read {
        file: String,
        total: u64,
        done: u64,
        start: u64,
        end: u64,
        /// A write of a new file (its pages are dirty).
        write: bool,
    },
    Busy {
        end: u64,
    },
    Churn(Box<ChurnState>),
}

#[derive(Debug)]
struct ChurnState {
    end: u64,
    jobs: Vec<Job>,
    next_id: u64,
    job_min: u64,
    job_max: u64,
    job_time: u64,
    reads_per_job: u64,
    /// File sizes in pages (the pool).
    files: Vec<u64>,
    width: u32,
}

/// What the workload did in one advance (for idle detection and metrics).
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkDone {
    /// Simulated CPU-busy nanoseconds in the advanced interval.
    pub busy_ns: u64,
}

/// The running workload.
pub struct Workload {
    steps: Vec<(u64, Action)>,
    next_step: usize,
    active: Vec<Activity>,
    trace: Option<(RecordedTrace, usize, u64)>,
    rng: Rng,
    /// When the workload ended (`mark` step or the end of the last step), ns.
    pub mark_ns: u64,
    /// Instant actions pending a CPU-busy second.
    busy_until: u64,
    trace_file_seq: u64,
    /// Next slice of the spread-out activities.
    next_tick: u64,
    /// Periodic re-reads of hot sets (not activities: they do not keep the CPU busy between
    /// reads).
    periodic: Vec<Periodic>,
}

/// A hot set read again and again (`reread` step).
#[derive(Debug)]
struct Periodic {
    file: String,
    pages: u64,
    every: u64,
    next: u64,
    end: u64,
    cpu: u64,
}

impl Workload {
    /// The workload of a scenario.
    pub fn from_scenario(sc: &Scenario, seed: u64) -> Self {
        let mut steps: Vec<(u64, Action)> = sc
            .steps
            .iter()
            .map(|s| (s.at.0, s.action.clone()))
            .collect();
        steps.sort_by_key(|(t, _)| *t);
        let explicit = steps
            .iter()
            .rev()
            .find(|(_, a)| matches!(a, Action::Mark))
            .map(|(t, _)| *t);
        let implicit = steps
            .iter()
            .map(|(t, a)| {
                t + match a {
                    Action::Alloc { over, .. }
                    | Action::Read { over, .. }
                    | Action::Write { over, .. } => over.0,
                    Action::Busy { over } | Action::Churn { over, .. } => over.0,
                    _ => 0,
                }
            })
            .max()
            .unwrap_or(0);
        Self {
            steps,
            next_step: 0,
            active: Vec::new(),
            trace: None,
            rng: Rng::new(seed ^ 0x5EED_0FC0_FFEE),
            mark_ns: explicit.unwrap_or(implicit),
            busy_until: 0,
            trace_file_seq: 0,
            next_tick: 0,
            periodic: Vec::new(),
        }
    }

    /// A workload replaying a recorded trace (anonymous = used − kernel, cache = cached).
    pub fn from_trace(trace: RecordedTrace, kernel_pages: u64, seed: u64) -> Self {
        let end = trace.samples.last().map_or(0, |s| s.t_ns);
        let start = trace.samples.first().map_or(0, |s| s.t_ns);
        Self {
            steps: Vec::new(),
            next_step: 0,
            active: Vec::new(),
            trace: Some((trace, 0, kernel_pages)),
            rng: Rng::new(seed),
            mark_ns: end - start + NS_PER_SEC,
            busy_until: 0,
            trace_file_seq: 0,
            next_tick: 0,
            periodic: Vec::new(),
        }
    }

    /// Offset added to trace times: replay starts 1 s after boot.
    const TRACE_START: u64 = NS_PER_SEC;

    /// When the workload next needs to run (`None`: nothing left).
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        let mut d: Option<u64> = self.steps.get(self.next_step).map(|(t, _)| *t);
        if !self.active.is_empty() {
            let tick = self.next_tick.max(now);
            d = Some(d.map_or(tick, |x| x.min(tick)));
        }
        if let Some(p) = self.periodic.iter().map(|p| p.next).min() {
            d = Some(d.map_or(p, |x| x.min(p)));
        }
        if let Some((t, i, _)) = &self.trace {
            if let Some(s) = t.samples.get(*i) {
                let first = t.samples.first().map_or(0, |f| f.t_ns);
                let at = s.t_ns - first + Self::TRACE_START;
                d = Some(d.map_or(at, |x| x.min(at)));
            }
        }
        d
    }

    /// Whether the CPU counts as busy at `now`.
    pub fn busy(&self, now: u64) -> bool {
        !self.active.is_empty() || now < self.busy_until
    }

    /// Runs everything due at `now`.
    pub fn run(&mut self, now: u64, guest: &mut Guest) {
        while let Some((t, _)) = self.steps.get(self.next_step) {
            if *t > now {
                break;
            }
            let (t, action) = self.steps[self.next_step].clone();
            self.next_step += 1;
            self.start(t, action, guest);
        }
        if !self.periodic.is_empty() {
            self.reread(now, guest);
        }
        if now >= self.next_tick || self.next_tick == 0 {
            self.advance(now, guest);
            self.next_tick = (now / TICK_NS + 1) * TICK_NS;
        }
        self.replay(now, guest);
    }

    fn start(&mut self, t: u64, action: Action, guest: &mut Guest) {
        let write = matches!(action, Action::Write { .. });
        match action {
            Action::Alloc {
                process,
                size,
                over,
                touch,
            } => {
                self.active.push(Activity::Alloc {
                    process,
                    total: pages(size.0),
                    done: 0,
                    start: t,
                    end: t + over.0,
                    touch,
                });
            }
            Action::Free { process, size } => {
                guest.free_anon(&process, size.map(|s| pages(s.0)));
                self.busy_until = self.busy_until.max(t + NS_PER_SEC);
            }
            Action::Read { file, size, over } | Action::Write { file, size, over } => {
                self.active.push(Activity::Read {
                    file,
                    total: pages(size.0),
                    done: 0,
                    start: t,
                    end: t + over.0,
                    write,
                });
            }
            // Waiting for the disk is not CPU time (iowait counts as idle).
            Action::Sync => guest.sync(),
            Action::DropCaches { .. } => {
                guest.drop_caches();
                self.busy_until = self.busy_until.max(t + NS_PER_SEC);
            }
            Action::Compact => {
                guest.compact();
                self.busy_until = self.busy_until.max(t + NS_PER_SEC);
            }
            Action::Busy { over } => self.active.push(Activity::Busy { end: t + over.0 }),
            Action::Churn {
                over,
                jobs,
                job_min,
                job_max,
                job_time,
                file_pool,
                reads_per_job,
            } => {
                // A pool of files, log-uniform between 16 KiB and 8 MiB.
                let mut files = Vec::new();
                let mut left = pages(file_pool.0);
                while left > 0 {
                    let exp = 2.0 + self.rng.unit() * 9.0; // 2^2 .. 2^11 pages
                    let p = (2f64.powf(exp) as u64).clamp(1, left);
                    files.push(p);
                    left -= p;
                }
                self.active.push(Activity::Churn(Box::new(ChurnState {
                    end: t + over.0,
                    jobs: Vec::new(),
                    next_id: 0,
                    job_min: pages(job_min.0),
                    job_max: pages(job_max.0),
                    job_time: job_time.0,
                    reads_per_job: pages(reads_per_job.0),
                    files,
                    width: jobs,
                })));
            }
            Action::Reread {
                file,
                size,
                every,
                over,
                cpu,
            } => self.periodic.push(Periodic {
                file,
                pages: pages(size.0),
                every: every.0.max(TICK_NS),
                next: t,
                end: t + over.0,
                cpu: cpu.0,
            }),
            Action::Mark => {}
        }
    }

    /// Runs the re-reads due at `now`; drops the finished ones.
    fn reread(&mut self, now: u64, guest: &mut Guest) {
        for p in &mut self.periodic {
            if p.next <= now {
                guest.read_file(&p.file, p.pages, 0, p.pages);
                self.busy_until = self.busy_until.max(now + p.cpu);
                p.next = now + p.every;
            }
        }
        self.periodic.retain(|p| p.next <= p.end);
    }

    fn advance(&mut self, now: u64, guest: &mut Guest) {
        let mut active = core::mem::take(&mut self.active);
        active.retain_mut(|a| match a {
            Activity::Alloc {
                process,
                total,
                done,
                start,
                end,
                touch,
            } => {
                let want = share(*total, *start, *end, now);
                if want > *done {
                    *done += guest.alloc_anon(process, want - *done, *touch);
                }
                *done < *total
            }
            Activity::Read {
                file,
                total,
                done,
                start,
                end,
                write,
            } => {
                let want = share(*total, *start, *end, now);
                if want > *done {
                    if *write {
                        guest.write_file(file, *total, *done, want - *done, now);
                    } else {
                        guest.read_file(file, *total, *done, want - *done);
                    }
                    *done = want;
                }
                *done < *total
            }
            Activity::Busy { end } => now < *end,
            Activity::Churn(c) => self.churn(c, now, guest),
        });
        self.active = active;
    }

    /// One churn slice; returns false when the churn is over and its jobs have exited.
    fn churn(&mut self, c: &mut ChurnState, now: u64, guest: &mut Guest) -> bool {
        // Exit finished jobs.
        let mut i = 0;
        while i < c.jobs.len() {
            if c.jobs[i].end <= now {
                let j = c.jobs.swap_remove(i);
                guest.free_anon(&j.name, None);
            } else {
                i += 1;
            }
        }
        // Start jobs to keep the width while the churn runs.
        while now < c.end && c.jobs.len() < c.width as usize {
            let life = c.job_time / 2 + self.rng.below(c.job_time.max(1));
            let span = c.job_max.saturating_sub(c.job_min);
            let anon = c.job_min + self.rng.below(span + 1);
            c.jobs.push(Job {
                name: format!("job{}", c.next_id),
                start: now,
                end: now + life.max(TICK_NS),
                anon_target: anon,
                anon_done: 0,
                read_target: c.reads_per_job,
                read_done: 0,
            });
            c.next_id += 1;
        }
        // Each job allocates over its first half and reads over its whole life.
        for j in &mut c.jobs {
            let half = j.start + (j.end - j.start) / 2;
            let want = share(j.anon_target, j.start, half, now);
            if want > j.anon_done {
                j.anon_done += guest.alloc_anon(&j.name, want - j.anon_done, true);
                // A job that could not get all of it retries next slice (alloc_stalls counts).
            }
            let want_r = share(j.read_target, j.start, j.end, now);
            while j.read_done < want_r && !c.files.is_empty() {
                // Skewed choice: a third of the reads go to the first tenth (headers).
                let n = c.files.len() as u64;
                let idx = if self.rng.below(3) == 0 {
                    self.rng.below((n / 10).max(1))
                } else {
                    self.rng.below(n)
                };
                let size = c.files[idx as usize];
                guest.read_file(&format!("src{idx}"), size, 0, size);
                j.read_done += size;
            }
        }
        !c.jobs.is_empty() || now < c.end
    }

    fn replay(&mut self, now: u64, guest: &mut Guest) {
        let Some((trace, idx, kernel)) = &mut self.trace else {
            return;
        };
        let first = trace.samples.first().map_or(0, |f| f.t_ns);
        while let Some(s) = trace.samples.get(*idx) {
            if s.t_ns - first + Self::TRACE_START > now {
                break;
            }
            *idx += 1;
            let anon_target = pages(s.used).saturating_sub(*kernel);
            let cur = guest.process_pages("trace");
            if anon_target > cur {
                guest.alloc_anon("trace", anon_target - cur, true);
            } else if cur > anon_target {
                guest.free_anon("trace", Some(cur - anon_target));
            }
            let cache_target = pages(s.cached);
            let cur = guest.cache_pages();
            if cache_target > cur {
                self.trace_file_seq += 1;
                let n = cache_target - cur;
                guest.read_file(&format!("traced{}", self.trace_file_seq), n, 0, n);
            } else if cur > cache_target {
                guest.reclaim_cache(cur - cache_target, false);
            }
            self.busy_until = self.busy_until.max(now + trace.period_ns.max(TICK_NS));
        }
    }
}

/// How much of `total` should be done at `now` for an even spread over `[start, end]`.
fn share(total: u64, start: u64, end: u64, now: u64) -> u64 {
    if now >= end || end <= start {
        return total;
    }
    if now <= start {
        // First slice: something happens at once.
        return total.min((total / ((end - start) / TICK_NS).max(1)).max(1));
    }
    let frac = (now - start) as f64 / (end - start) as f64;
    ((total as f64 * frac) as u64).min(total)
}
