//! Golden bytes from the fact sheet's tables (page-reporting-and-hypercalls.md C.1, C.2, D.4,
//! D.5): every test names the table it follows. The field-level golden tests live next to the
//! types (`control.rs`, `range.rs`, `ext.rs`); these check whole wire images.

use hvcall::sim::SimHypervisor;
use hvcall::{
    Control, GpaPageRange, HeatType, HvPage, HvStatus, HypercallBackend, HypercallCode,
    HypercallOutput, Hypercalls, MAX_HEAT_HINT_RANGES, MemoryHintHeader,
};
use zerocopy::IntoBytes;

/// The three worked encodings of D.5.
const D5_2M_AT_0X4020_0000: u64 = 0x4020_0800;
const D5_4M_AT_0X4040_0000: u64 = 0x4040_0801;
const D5_64K_AT_0X1234_0000: u64 = 0x1234_000F;

/// C.1 / D.4: the control word for a 3-range heat hint, as the little-endian bytes RCX carries.
#[test]
fn table_c1_d4_control_word_bytes() {
    let c = Control::new(HypercallCode::EXT_MEMORY_HEAT_HINT).with_rep_count(3);
    assert_eq!(c.0, 0x0000_0003_0000_8003);
    assert_eq!(
        c.as_bytes(),
        [0x03, 0x80, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00]
    );
    let restarted = c.with_rep_start(2);
    assert_eq!(
        restarted.as_bytes(),
        [0x03, 0x80, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00]
    );
    // C.1: code 15:0, fast 16, var header 26:17, nested 31, rep count 43:32, rep start 59:48.
    let every = Control(0)
        .with_code(HypercallCode(0x1234))
        .with_fast(true)
        .with_variable_header_size(0x155)
        .with_nested(true)
        .with_rep_count(0xABC)
        .with_rep_start(0x789);
    assert_eq!(every.0, 0x0789_0ABC_82AB_1234);
}

/// C.2: a result value with status, reps completed and reserved garbage.
#[test]
fn table_c2_result_value_bytes() {
    let out = HypercallOutput::new(HvStatus::INVALID_PARAMETER, 7);
    assert_eq!(
        out.as_bytes(),
        [0x05, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00]
    );
    let noisy = HypercallOutput(0xFFFF_F007_FFFF_0000);
    assert_eq!(noisy.status(), HvStatus::SUCCESS);
    assert_eq!(noisy.reps_completed(), 7);
}

/// D.5: the three worked encodings plus a 1 GiB range, as bytes.
#[test]
fn table_d5_range_bytes() {
    let r2m = GpaPageRange::new_2m(0x4020_0000 >> 12, 1).unwrap();
    let r4m = GpaPageRange::new_2m(0x4040_0000 >> 12, 2).unwrap();
    let r64k = GpaPageRange::new_4k(0x1234_0000 >> 12, 16).unwrap();
    assert_eq!(r2m.as_bytes(), D5_2M_AT_0X4020_0000.to_le_bytes());
    assert_eq!(r4m.as_bytes(), D5_4M_AT_0X4040_0000.to_le_bytes());
    assert_eq!(r64k.as_bytes(), D5_64K_AT_0X1234_0000.to_le_bytes());
    // 1 GiB form (UNVERIFIED semantics): largepage, page_size = 1, base_large_pfn = GPA >> 21.
    let r1g = GpaPageRange::new_1g(0x8000_0000 >> 12, 2).unwrap();
    assert_eq!(r1g.0, 0x8000_0000 | 0x1000 | 0x800 | 1);
}

/// D.4 + D.5: the whole input page of a cold-discard heat hint with the three worked ranges:
/// header qword 0x2, ranges at offsets 8, 16, 24, every other byte zero; control word
/// 0x8003 | (3 << 32).
#[test]
fn table_d4_whole_heat_hint_input_page() {
    let mut sim = SimHypervisor::new(1 << 19);
    sim.set_record_calls(true);
    let ranges = [
        GpaPageRange(D5_2M_AT_0X4020_0000),
        GpaPageRange(D5_4M_AT_0X4040_0000),
        GpaPageRange(D5_64K_AT_0X1234_0000),
    ];
    let done = Hypercalls::new(&mut sim)
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges)
        .unwrap();
    assert_eq!((done.ranges, done.frames), (3, 512 + 1024 + 16));

    let mut expected = [0u8; 4096];
    expected[0..8].copy_from_slice(&0x0000_0000_0000_0002u64.to_le_bytes());
    expected[8..16].copy_from_slice(&D5_2M_AT_0X4020_0000.to_le_bytes());
    expected[16..24].copy_from_slice(&D5_4M_AT_0X4040_0000.to_le_bytes());
    expected[24..32].copy_from_slice(&D5_64K_AT_0X1234_0000.to_le_bytes());
    assert_eq!(sim.input_page().bytes(), &expected);
    assert_eq!(sim.call_log().len(), 1);
    assert_eq!(sim.call_log()[0].control.0, 0x0000_0003_0000_8003);
    assert_eq!(
        sim.call_log()[0].result,
        HypercallOutput::new(HvStatus::SUCCESS, 3)
    );
}

/// D.4: a full page holds exactly 511 ranges — the last one ends at byte 4096 — and range 512
/// goes into a second call.
#[test]
fn table_d4_full_page_of_511_ranges() {
    let mut sim = SimHypervisor::new(1 << 20);
    sim.set_record_calls(true);
    let ranges: Vec<GpaPageRange> = (0..512u64)
        .map(|i| GpaPageRange::new_4k(i * 2, 1).unwrap())
        .collect();
    let mut hc = Hypercalls::new(&mut sim);
    let mut w = hc.heat_hint_writer(HeatType::COLD_DISCARD);
    for r in &ranges[..MAX_HEAT_HINT_RANGES] {
        w.push(*r).unwrap();
    }
    assert_eq!(w.queued(), 511);
    w.flush().unwrap();
    let page: &HvPage = sim.input_page();
    assert_eq!(
        page.qword(0),
        Some(MemoryHintHeader::new(HeatType::COLD_DISCARD).0)
    );
    for (i, r) in ranges[..511].iter().enumerate() {
        assert_eq!(page.qword(i + 1), Some(r.0), "range {i}");
    }
    assert_eq!(page.bytes()[4088..], ((510u64 * 2) << 12).to_le_bytes());
    assert_eq!(sim.call_log()[0].control.rep_count(), 511);

    let mut hc = Hypercalls::new(&mut sim);
    let done = hc
        .memory_heat_hint(HeatType::COLD_DISCARD, &ranges)
        .unwrap();
    assert_eq!((done.batches, done.ranges), (2, 512));
    let log = sim.call_log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].control.rep_count(), 511);
    assert_eq!(log[2].control.rep_count(), 1);
}
