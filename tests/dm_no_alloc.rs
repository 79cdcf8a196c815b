//! The channel-callback path is allocation-free: `Driver::on_channel_interrupt` never touches
//! the heap (the Linux module may call it in atomic context). Counted with a global allocator.
#![cfg(feature = "sim")]

use std::cell::Cell;

use hv_dynmem::driver::{Config, Driver};
use hv_dynmem::protocol::{PageRange, encode};
use hv_dynmem::sim::dm_host::bench::on_sim_vmbus;
use hv_dynmem::sim::dm_host::{DmHost, HostConfig, Policy};
use hv_dynmem::sim::fake_os::FakeMemory;
use zerocopy::IntoBytes;

#[expect(
    unsafe_code,
    reason = "a counting global allocator is the only way to observe allocations"
)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        pub static COUNTING: Cell<bool> = const { Cell::new(false) };
        pub static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
    // `GlobalAlloc` contract is `System`'s; the counting touches only const-initialised
    // thread-locals, which never allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                ALLOCS.with(|a| a.set(a.get() + 1));
            }
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this `layout` (forwarded above).
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                ALLOCS.with(|a| a.set(a.get() + 1));
            }
            // SAFETY: forwarded unchanged; the caller upholds `realloc`'s contract.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

fn counted(f: impl FnOnce()) -> u64 {
    counting::ALLOCS.with(|a| a.set(0));
    counting::COUNTING.with(|c| c.set(true));
    f();
    counting::COUNTING.with(|c| c.set(false));
    counting::ALLOCS.with(Cell::get)
}

#[test]
fn channel_callback_does_not_allocate() {
    const GIB: u64 = 262_144;
    let mut host = HostConfig::new(Policy::Manual, GIB);
    host.quiet_period_ns = 0;
    let mem = FakeMemory::new(GIB, 2 * GIB, 32_768);
    let driver = Driver::new(Config::default(), 32_768);
    let mut b = on_sim_vmbus(driver, mem, DmHost::new(host));
    b.start();
    b.advance(1);
    assert!(b.host.request_balloon(&mut b.host_ch, 5000));
    b.advance(1);
    let given: Vec<PageRange> = b
        .driver
        .ballooned()
        .iter()
        .map(|(s, e)| PageRange::new(s, e - s).unwrap())
        .collect();

    // Everything a host can send, written into the ring first.
    let r = PageRange::new(GIB, 32_768).unwrap();
    // Malformed requests first (answered with refusals; the well-formed ones after them
    // replace them in the driver's one-request slots).
    let mut bad_balloon = encode::balloon_request(1, 100).as_bytes().to_vec();
    bad_balloon[2] = 200;
    let mut bad_unballoon = encode::to_vec(&encode::unballoon_request(1, false, 1), &[r]);
    bad_unballoon[12] = 9;
    let bad_hot_add = encode::hot_add_request(1, PageRange::new((1 << 40) - 1, 2).unwrap());
    let msgs: Vec<Vec<u8>> = vec![
        bad_balloon,
        bad_unballoon,
        bad_hot_add.as_bytes().to_vec(),
        encode::hot_remove_request(6, 0, 10, 0).as_bytes()[..16].to_vec(),
        encode::balloon_request(1, 100).as_bytes().to_vec(),
        encode::to_vec(
            &encode::unballoon_request(2, true, given.len() as u32),
            &given,
        ),
        encode::to_vec(
            &encode::unballoon_request(3, false, 1),
            &[PageRange::new(0, 10).unwrap()],
        ),
        encode::to_vec(&encode::hot_add_request(4, r), &[r]),
        encode::info_max_page_count(5, 1 << 20).to_vec(),
        encode::hot_remove_request(6, 0, 10, 0).as_bytes().to_vec(),
        encode::version_response(7, true).as_bytes().to_vec(),
        vec![0xff; 40],
        vec![1, 2, 3],
    ];
    for m in &msgs {
        b.host.send_raw(&mut b.host_ch, m);
    }
    let before = b.driver.counters();
    let n = counted(|| {
        b.driver
            .on_channel_interrupt(&mut b.guest_ch, &mut b.mem, b.now)
    });
    let after = b.driver.counters();
    assert_eq!(
        after.messages_received - before.messages_received,
        msgs.len() as u64
    );
    assert_eq!(n, 0, "heap allocations in the channel callback");
    assert_eq!(after.refused_requests - before.refused_requests, 4);
    // The deferred work then runs from poll (which may allocate) and completes.
    b.advance(1);
    assert_eq!(
        b.driver.counters().pages_ballooned,
        100,
        "unballooned 5000, ballooned 100 more"
    );
    assert_eq!(b.driver.counters().pages_added, 32_768);
}
