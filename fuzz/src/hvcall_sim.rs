//! `hvcall_sim`: hypercall inputs and results.
//!
//! Five modes, chosen by the first input byte (mod 5):
//!
//! 0. **simulator**: a [`SimHypervisor`] with fuzz-chosen configuration and fault injection
//!    is fed arbitrary control words with arbitrary input pages. Asserts: a status comes back
//!    (never a panic); a failed call reports no more reps than were asked; a successful heat
//!    hint completes reps inside `rep_start..=rep_count`; unknown codes, reserved bits and the
//!    fast/nested bits never succeed; the backed-frame count never exceeds guest memory.
//! 1. **range builder**: arbitrary free runs and options to `build_ranges`, `collect_into`
//!    and the streaming [`RangeBuilder`]. Asserts: an error exactly when the input is bad
//!    (zero length, past 2^52 frames, overlap, or misaligned with 4 KiB units disabled);
//!    otherwise the ranges decode, are ascending and disjoint, use only allowed units, cover
//!    exactly the union of the runs, and number exactly `count_ranges` per merged run.
//! 2. **hostile hypervisor**: the safe layer ([`Hypercalls`]) over a backend whose every
//!    result word (and output page) comes from the input. Asserts: rep restart issues at most
//!    `rep_count` calls and never loops; `completed` never exceeds what was asked; heat-hint
//!    progress never counts more ranges or frames than were queued; errors are typed.
//! 3. **heat hints through the simulator**: sorted runs → `heat_hint_runs` against a
//!    simulator with faults. Asserts: progress never exceeds the input and, for cold discard,
//!    the frames the simulator unbacked equal what progress reports when every frame was
//!    backed before. Also hostile CPUID values to discovery.
//! 4. **free page reporter**: `hv_reporting::HvReporter` (hv_balloon's cold-discard reporter)
//!    probed with hostile CPUID values and capability output, then fed batches of blocks over
//!    the hostile backend. Asserts: every failure is a typed `ReportError`; a disabled reporter
//!    issues no hypercall; the hypercalls it counts are the ones the backend saw; a requested
//!    disable takes effect through `poll_disable`.

use arbitrary::{Result, Unstructured};
use hvcall::builder::{self, build_ranges, collect_into};
use hvcall::sim::{FailPlan, SimHypervisor};
use hvcall::{
    Control, CpuId, CpuIdResult, ExtCapabilities, FreeRun, GpaPageRange, HeatType, HvPage,
    HvStatus, HyperVInfo, HypercallBackend, HypercallCode, HypercallOutput, Hypercalls, PFN_LIMIT,
    PageUnit, RangeBuilder, RangeError, RangeOptions,
};

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mode) = u.arbitrary::<u8>() else {
        return;
    };
    let _ = match mode % 5 {
        0 => simulator(&mut u),
        1 => range_builder(&mut u),
        2 => hostile(&mut u),
        3 => heat_hints(&mut u),
        _ => reporter(&mut u),
    };
}

fn status(u: &mut Unstructured<'_>) -> Result<HvStatus> {
    Ok(if u.arbitrary()? {
        *u.choose(HvStatus::ALL_DOCUMENTED)?
    } else {
        HvStatus(u.arbitrary()?)
    })
}

/// A failure status for the simulator's fault injection (an injected "failure" with status 0
/// would be a success the simulator never checked, not a hypervisor behaviour).
fn error_status(u: &mut Unstructured<'_>) -> Result<HvStatus> {
    let s = status(u)?;
    Ok(if s.is_ok() {
        HvStatus::ACCESS_DENIED
    } else {
        s
    })
}

fn configure(u: &mut Unstructured<'_>, sim: &mut SimHypervisor) -> Result<()> {
    sim.set_extended_hypercalls(!u.ratio(1u8, 8)?);
    sim.set_cold_discard_capability(!u.ratio(1u8, 8)?);
    if u.ratio(1u8, 8)? {
        sim.set_capabilities(ExtCapabilities::from_bits_retain(u.arbitrary()?));
    }
    sim.set_reject_small_ranges(u.ratio(1u8, 6)?);
    sim.set_reps_per_call(if u.arbitrary()? {
        Some(u.arbitrary()?)
    } else {
        None
    });
    sim.set_random_partial_completion(if u.arbitrary()? {
        Some(u.arbitrary()?)
    } else {
        None
    });
    sim.set_no_progress(u.ratio(1u8, 10)?);
    if u.ratio(1u8, 4)? {
        let times = if u.arbitrary()? {
            Some(u.int_in_range(0u64..=4)?)
        } else {
            None
        };
        sim.set_fail_plan(Some(FailPlan {
            status: error_status(u)?,
            after_calls: u.int_in_range(0u64..=4)?,
            times,
        }));
    }
    if u.ratio(1u8, 4)? {
        sim.set_fail_after_elements(Some((u.int_in_range(0u64..=600)?, error_status(u)?)));
    }
    sim.set_record_calls(u.arbitrary()?);
    sim.set_record_discards(u.arbitrary()?);
    Ok(())
}

fn control(u: &mut Unstructured<'_>) -> Result<Control> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Control::from_bits(u.arbitrary()?),
        _ => {
            let code = match u.int_in_range(0u8..=3)? {
                0 => HypercallCode::EXT_QUERY_CAPABILITIES,
                1 | 2 => HypercallCode::EXT_MEMORY_HEAT_HINT,
                _ => HypercallCode(u.arbitrary()?),
            };
            let count = u.int_in_range(0u16..=Control::MAX_REP_COUNT)?;
            let start = u.int_in_range(0u16..=count)?;
            let mut c = Control::new(code)
                .with_rep_count(count)
                .with_rep_start(start);
            if u.ratio(1u8, 8)? {
                c = c.with_variable_header_size(u.arbitrary()?);
            }
            if u.ratio(1u8, 8)? {
                c = c.with_fast(true);
            }
            if u.ratio(1u8, 8)? {
                c = c.with_nested(true);
            }
            c
        }
    })
}

/// Fills an input page: header qword, then ranges (mostly plausible ones) or raw bytes.
fn input_page(u: &mut Unstructured<'_>, page: &mut HvPage, guest_frames: u64) -> Result<()> {
    page.clear();
    if u.ratio(1u8, 4)? {
        let n = u.int_in_range(0..=4096)?;
        let _ = page.write_bytes_at(0, u.bytes(n)?);
        return Ok(());
    }
    let heat = match u.int_in_range(0u8..=4)? {
        0 => 0u64,
        1 => 1,
        2 | 3 => 2,
        _ => u.arbitrary()?,
    };
    let _ = page.write_at(0, &heat);
    let n = u.int_in_range(0usize..=600)?;
    for i in 0..n {
        let r = gpa_range(u, guest_frames)?;
        if page.write_at(8 + 8 * i, &r).is_err() {
            break;
        }
    }
    Ok(())
}

fn gpa_range(u: &mut Unstructured<'_>, guest_frames: u64) -> Result<GpaPageRange> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => GpaPageRange::from_bits(u.arbitrary()?),
        1 => {
            let first = u.int_in_range(0..=guest_frames / 512)? * 512;
            GpaPageRange::new_2m(first, u.int_in_range(1u64..=4)?)
                .unwrap_or(GpaPageRange::from_bits(0))
        }
        _ => {
            let first = u.int_in_range(0..=guest_frames + 8)?;
            GpaPageRange::new_4k(first, u.int_in_range(1u64..=2048)?)
                .unwrap_or(GpaPageRange::from_bits(0))
        }
    })
}

fn simulator(u: &mut Unstructured<'_>) -> Result<()> {
    let frames = u.int_in_range(0u64..=1 << 16)?;
    let mut sim = SimHypervisor::new(frames);
    configure(u, &mut sim)?;
    let mut steps = 0;
    while !u.is_empty() && steps < 64 {
        steps += 1;
        input_page(u, sim.input_page(), frames)?;
        let c = control(u)?;
        let out = sim.call(c);
        let st = out.status();
        let _ = format!("{st} {st:?} {out:?} {c:?}");
        if st.is_err() {
            assert!(
                out.reps_completed() <= c.rep_count().max(c.rep_start()),
                "failed call reports {} reps of {}",
                out.reps_completed(),
                c.rep_count()
            );
        } else {
            assert_eq!(c.reserved_bits(), 0, "reserved bits accepted: {c:?}");
            assert!(!c.fast() && !c.nested(), "fast/nested accepted: {c:?}");
            match c.code() {
                HypercallCode::EXT_QUERY_CAPABILITIES => {}
                HypercallCode::EXT_MEMORY_HEAT_HINT => {
                    let done = out.reps_completed();
                    assert!(
                        done >= c.rep_start() && done <= c.rep_count(),
                        "heat hint completed {done} for start {} count {}",
                        c.rep_start(),
                        c.rep_count()
                    );
                }
                other => panic!("unknown code {other:?} succeeded"),
            }
        }
        if u.ratio(1u8, 8)? {
            let first = u.int_in_range(0..=frames + 8)?;
            let n = u.int_in_range(0..=4096)?;
            let _ = sim.guest_touch(first, n);
            let _ = sim.guest_write(first);
        }
        assert!(sim.backed_frames() <= sim.guest_frames());
        let _ = sim.take_discards();
    }
    let _ = (sim.stats(), sim.call_log().len(), format!("{sim:?}"));
    let _ = sim.cpuid(0x4000_0003);
    Ok(())
}

fn free_run(u: &mut Unstructured<'_>, base: &mut u64) -> Result<FreeRun> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => FreeRun::new(u.arbitrary()?, u.arbitrary()?),
        1 => FreeRun::new(
            PFN_LIMIT - u.int_in_range(0u64..=4096)?,
            u.int_in_range(0u64..=8192)?,
        ),
        2 | 3 => {
            // 2 MiB or 1 GiB aligned pieces.
            let unit = if u.arbitrary()? { 512 } else { 1 << 18 };
            *base = (*base / unit + u.int_in_range(0u64..=2)?) * unit;
            let r = FreeRun::new(*base, unit * u.int_in_range(0u64..=4096)?);
            *base = base.saturating_add(r.page_count);
            r
        }
        _ => {
            // Small steps: adjacency, overlap, gaps.
            let gap = u.int_in_range(0u64..=1100)?;
            let back = if u.ratio(1u8, 10)? {
                u.int_in_range(0u64..=64)?
            } else {
                0
            };
            let first = base.saturating_add(gap).saturating_sub(back);
            let r = FreeRun::new(
                first,
                u.int_in_range(0u64..=1 << 21)? >> u.int_in_range(0u32..=21)?,
            );
            *base = r.end_pfn();
            r
        }
    })
}

fn options(u: &mut Unstructured<'_>) -> Result<RangeOptions> {
    Ok(RangeOptions::new()
        .allow_4k(!u.ratio(1u8, 4)?)
        .allow_1gib(u.ratio(1u8, 3)?))
}

/// Merged `[start, end)` intervals of valid, non-overlapping sorted runs; `None` when the
/// input must be refused.
fn expected_cover(runs: &[FreeRun], opt: RangeOptions) -> Option<Vec<(u64, u64)>> {
    let mut sorted = runs.to_vec();
    sorted.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for r in &sorted {
        if r.page_count == 0 || r.first_pfn >= PFN_LIMIT || r.page_count > PFN_LIMIT - r.first_pfn {
            return None;
        }
        let end = r.first_pfn + r.page_count;
        match merged.last_mut() {
            Some(last) if r.first_pfn == last.1 => last.1 = end,
            Some(last) if r.first_pfn < last.1 => return None,
            _ => merged.push((r.first_pfn, end)),
        }
    }
    let min = opt.min_unit_frames();
    if merged.iter().any(|&(s, e)| s % min != 0 || e % min != 0) {
        return None;
    }
    Some(merged)
}

fn range_builder(u: &mut Unstructured<'_>) -> Result<()> {
    let opt = options(u)?;
    let n = u.int_in_range(0usize..=64)?;
    let mut base = u.int_in_range(0u64..=1 << 20)?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push(free_run(u, &mut base)?);
    }
    if u.arbitrary()? {
        // Shuffle a little (build_ranges sorts).
        let len = runs.len();
        for i in 0..len {
            let j = u.int_in_range(0..=len - 1)?;
            runs.swap(i, j);
        }
    }
    // A valid run of up to 2^52 frames needs up to 2^32 ranges: correct, but not something to
    // collect into a Vec here. Skip inputs whose cover would exceed 100 000 ranges.
    let estimate: u64 = runs
        .iter()
        .filter_map(|r| builder::count_ranges(*r, RangeOptions::LINUX).ok())
        .fold(0u64, u64::saturating_add);
    if estimate > 100_000 {
        return Ok(());
    }
    let expected = expected_cover(&runs, opt);
    let got = build_ranges(&runs, opt);
    match (&expected, &got) {
        (None, Ok(r)) => panic!("bad runs {runs:?} accepted with {opt:?}: {r:?}"),
        (Some(m), Err(e)) => panic!("good runs {runs:?} (merged {m:?}) refused with {opt:?}: {e}"),
        (None, Err(e)) => {
            assert!(!e.to_string().is_empty());
        }
        (Some(merged), Ok(ranges)) => check_cover(merged, ranges, opt),
    }
    // The fixed-array path agrees, or reports the array full.
    let cap = u.int_in_range(0usize..=256)?;
    let mut out = vec![GpaPageRange::default(); cap];
    let mut copy = runs.clone();
    match (collect_into(&mut copy, opt, &mut out), &got) {
        (Ok(k), Ok(r)) => assert_eq!(&out[..k], &r[..], "collect_into differs from build_ranges"),
        (Err(builder::BuildError::Sink(full)), Ok(r)) => {
            assert!(
                r.len() > cap,
                "array of {} reported full for {} ranges",
                full.capacity,
                r.len()
            )
        }
        (Err(builder::BuildError::Range(_)), Err(_)) => {}
        (Err(builder::BuildError::Sink(_)), Err(_)) => {}
        (a, b) => panic!("collect_into {a:?} vs build_ranges {b:?}"),
    }
    // Streaming unsorted input must be refused when it goes backwards (never mis-covered).
    let mut b = RangeBuilder::new(opt);
    let mut streamed = Vec::new();
    let mut res = Ok(());
    for r in &runs {
        res = b.push(*r, &mut |g| {
            streamed.push(g);
            Ok::<(), ()>(())
        });
        if res.is_err() {
            break;
        }
    }
    if res.is_ok() {
        res = b.finish(&mut |g| {
            streamed.push(g);
            Ok::<(), ()>(())
        });
    }
    let in_order = runs.windows(2).all(|w| w[0].first_pfn <= w[1].first_pfn);
    if in_order {
        match (&res, &got) {
            (Ok(()), Ok(r)) => assert_eq!(&streamed, r, "streaming differs from build_ranges"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("streaming {a:?} vs build_ranges {b:?} on sorted input"),
        }
    } else if let Err(builder::BuildError::Range(e)) = &res {
        assert!(!e.to_string().is_empty());
    }
    if matches!(
        res,
        Err(builder::BuildError::Range(RangeError::Unsorted { .. }))
    ) {
        assert!(!in_order, "sorted input reported unsorted");
    }
    Ok(())
}

fn check_cover(merged: &[(u64, u64)], ranges: &[GpaPageRange], opt: RangeOptions) {
    let mut covered: Vec<(u64, u64)> = Vec::new();
    for g in ranges {
        let (first, frames) = g
            .decode()
            .unwrap_or_else(|e| panic!("emitted bad range {g:?}: {e}"));
        match g.unit() {
            PageUnit::Size4K => assert!(opt.allows_4k(), "4 KiB unit with 4 KiB disabled: {g:?}"),
            PageUnit::Size2M => {}
            PageUnit::Size1G => assert!(opt.allows_1gib(), "1 GiB unit not allowed: {g:?}"),
        }
        if let Some(&(_, last_end)) = covered.last() {
            assert!(first >= last_end, "ranges not ascending/disjoint at {g:?}");
        }
        match covered.last_mut() {
            Some(last) if last.1 == first => last.1 = first + frames,
            _ => covered.push((first, first + frames)),
        }
    }
    assert_eq!(covered, merged, "cover differs from the runs");
    let want: u64 = merged
        .iter()
        .map(|&(s, e)| builder::count_ranges(FreeRun::new(s, e - s), opt).expect("valid run"))
        .sum();
    assert_eq!(
        ranges.len() as u64,
        want,
        "not the minimal number of ranges"
    );
}

/// A backend whose result words and output page come from the fuzz input.
struct Hostile<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    input: Box<HvPage>,
    output: Box<HvPage>,
    calls: usize,
}

impl HypercallBackend for Hostile<'_, '_> {
    fn input_page(&mut self) -> &mut HvPage {
        &mut self.input
    }
    fn output_page(&self) -> &HvPage {
        &self.output
    }
    fn call(&mut self, control: Control) -> HypercallOutput {
        self.calls += 1;
        assert!(
            self.calls <= 100_000,
            "hypercall loop: {} calls",
            self.calls
        );
        if let Ok(n) = self.u.int_in_range(0usize..=16) {
            let _ = self
                .output
                .write_bytes_at(0, self.u.bytes(n).unwrap_or(&[]));
        }
        let raw: u64 = match self.u.int_in_range(0u8..=3) {
            Ok(0) => self.u.arbitrary().unwrap_or(0),
            Ok(1) => {
                let st = status(self.u).unwrap_or(HvStatus::SUCCESS);
                HypercallOutput::new(st, self.u.arbitrary().unwrap_or(0)).into_bits()
            }
            _ => {
                // Plausible success: some progress from rep start.
                let start = control.rep_start();
                let count = control.rep_count();
                let done = self
                    .u
                    .int_in_range(start..=count.max(start))
                    .unwrap_or(count);
                HypercallOutput::new(HvStatus::SUCCESS, done).into_bits()
            }
        };
        HypercallOutput::from_bits(raw)
    }
}

fn hostile(u: &mut Unstructured<'_>) -> Result<()> {
    let what = u.int_in_range(0u8..=3)?;
    let count = u.int_in_range(0u16..=Control::MAX_REP_COUNT + 2)?;
    let ranges: Vec<GpaPageRange> = (0..u.int_in_range(0usize..=1200)?)
        .map(|i| GpaPageRange::new_4k(i as u64 * 16, 1 + (i as u64 % 16)).unwrap_or_default())
        .collect();
    let frames_total: u64 = ranges
        .iter()
        .map(|r| r.decode().map_or(0, |(_, n)| n))
        .sum();
    let mut be = Hostile {
        u,
        input: Box::new(HvPage::zeroed()),
        output: Box::new(HvPage::zeroed()),
        calls: 0,
    };
    let mut hc = Hypercalls::new(&mut be);
    match what {
        0 => {
            let r = hc.rep_call_prepared(HypercallCode::EXT_MEMORY_HEAT_HINT, count);
            let calls = hc.backend().calls;
            if count == 0 || count > Control::MAX_REP_COUNT {
                assert!(
                    r.is_err() && calls == 0,
                    "bad rep count {count} issued a call"
                );
            } else {
                assert!(
                    calls <= usize::from(count),
                    "{calls} calls for {count} reps"
                );
            }
            if let Err(e) = r {
                assert!(
                    e.completed <= usize::from(count),
                    "completed {} of {count}",
                    e.completed
                );
                assert!(!e.to_string().is_empty());
            }
        }
        1 => {
            let r = hc.memory_heat_hint(HeatType::COLD_DISCARD, &ranges);
            match r {
                Ok(p) => {
                    assert_eq!(p.ranges, ranges.len() as u64, "success with ranges missing");
                    assert_eq!(p.frames, frames_total);
                }
                Err(e) => {
                    assert!(
                        e.completed <= ranges.len(),
                        "completed {} of {}",
                        e.completed,
                        ranges.len()
                    );
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        2 => {
            let runs: Vec<FreeRun> = ranges
                .iter()
                .filter_map(|r| r.decode().ok())
                .map(|(s, n)| FreeRun::new(s, n))
                .collect();
            match hc.heat_hint_runs(HeatType::COLD_DISCARD, runs, RangeOptions::LINUX) {
                Ok(p) => assert_eq!(p.frames, frames_total, "success with frames missing"),
                Err(e) => {
                    assert!(
                        e.progress.frames <= frames_total,
                        "progress over-counted: {e}"
                    );
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        _ => {
            let _ = hc.query_capabilities().map_err(|e| e.to_string());
            let big = vec![0u8; 4097];
            assert!(
                hc.simple_call(HypercallCode::EXT_QUERY_CAPABILITIES, &big)
                    .is_err()
            );
            let cpu = FuzzCpu(hc.backend_mut().u.arbitrary()?);
            if let Ok(info) = HyperVInfo::probe(&cpu) {
                let _ = format!("{info:?}");
            }
            let _ = hc.cold_discard_supported(&cpu);
        }
    }
    Ok(())
}

/// CPUID with hypervisor-chosen values for the Hyper-V leaves.
struct FuzzCpu([u32; 12]);

impl CpuId for FuzzCpu {
    fn cpuid(&self, leaf: u32) -> CpuIdResult {
        let i = match leaf {
            1 => 0,
            0x4000_0000 => 1,
            0x4000_0001 => 2,
            _ => 0,
        } * 4;
        let w = &self.0[i..i + 4];
        CpuIdResult {
            eax: w[0],
            ebx: w[1],
            ecx: w[2],
            edx: w[3],
        }
    }
}

fn heat_hints(u: &mut Unstructured<'_>) -> Result<()> {
    let frames = u.int_in_range(1u64..=1 << 18)?;
    let mut sim = SimHypervisor::new(frames);
    configure(u, &mut sim)?;
    let opt = options(u)?;
    let mut base = u.int_in_range(0..=frames)?;
    let mut runs = Vec::new();
    for _ in 0..u.int_in_range(0usize..=40)? {
        runs.push(free_run(u, &mut base)?);
    }
    runs.sort_unstable();
    let total: u64 = runs
        .iter()
        .map(|r| r.page_count)
        .fold(0u64, u64::saturating_add);
    let before = sim.backed_frames();
    let heat = *u.choose(&[HeatType::COLD, HeatType::HOT, HeatType::COLD_DISCARD])?;
    let r = Hypercalls::new(&mut sim).heat_hint_runs(heat, runs.iter().copied(), opt);
    let progress = match r {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let _ = e.status();
            e.progress
        }
    };
    assert!(
        progress.frames <= total,
        "progress {progress:?} beyond {total} input frames"
    );
    let unbacked = before - sim.backed_frames();
    if heat == HeatType::COLD_DISCARD && before == frames {
        assert_eq!(
            unbacked, progress.frames,
            "frames unbacked differ from progress"
        );
    }
    if heat != HeatType::COLD_DISCARD {
        assert_eq!(unbacked, 0, "a non-discard hint unbacked frames");
    }
    Ok(())
}

fn reporter(u: &mut Unstructured<'_>) -> Result<()> {
    use hv_dynmem::reporting::{HvReporter, HvReporterConfig, ReportError};
    let cfg = HvReporterConfig {
        allow_1gib: u.arbitrary()?,
    };
    let mut cpu_words: [u32; 12] = u.arbitrary()?;
    if u.ratio(3u8, 4)? {
        // Mostly a plausible Hyper-V: present, max leaf, signature, extended hypercalls.
        cpu_words[2] |= 1 << 31;
        cpu_words[4] = 0x4000_000A;
        cpu_words[8] = 0x3123_7648;
        cpu_words[5] |= 1 << 20;
    }
    let cpu = FuzzCpu(cpu_words);
    let mut be = Hostile {
        u,
        input: Box::new(HvPage::zeroed()),
        output: Box::new(HvPage::zeroed()),
        calls: 0,
    };
    let mut rep = HvReporter::probe(&mut be, &cpu, cfg);
    let _ = format!("{:?} {:?}", rep.state(), rep.stats());
    for _ in 0..be.u.int_in_range(0u8..=8)? {
        let n = be.u.int_in_range(0usize..=64)?;
        let mut blocks = Vec::with_capacity(n);
        for _ in 0..n {
            let order = be.u.int_in_range(0u8..=12)?;
            let pfn = be.u.int_in_range(0u64..=1 << 22)? << order;
            blocks.push((pfn, order));
        }
        let enabled = rep.is_enabled();
        let calls_before = be.calls;
        let hyper_before = rep.stats().hypercalls;
        let r = rep.report_blocks(&mut be, &blocks);
        let issued = (be.calls - calls_before) as u64;
        assert_eq!(
            rep.stats().hypercalls - hyper_before,
            issued,
            "hypercall count differs"
        );
        match r {
            Ok(()) => assert!(enabled, "a disabled reporter reported"),
            Err(ReportError::Disabled) => {
                assert!(!enabled, "enabled reporter said disabled");
                assert_eq!(issued, 0, "a disabled reporter issued hypercalls");
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        let _ = rep.current_order(be.u.int_in_range(0u8..=10)?);
        if rep.disable_requested() {
            assert!(rep.poll_disable().is_some());
            assert!(!rep.is_enabled(), "poll_disable left the reporter on");
        }
    }
    Ok(())
}
