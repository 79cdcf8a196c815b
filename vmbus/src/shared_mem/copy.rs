//! Part of the `unsafe` island `shared_mem`: bulk copies between the ring's data area (memory the
//! host may write at any moment) and private buffers, at `memcpy` speed.
//!
//! [`crate::mem`] copies payloads word by word, one `Relaxed` `AtomicU64` access per 8 bytes.
//! That is data-race free whatever the host does, but the compiler may never merge, widen or
//! vectorise atomic accesses, so a 4 KiB payload costs 512 scalar loads and stores. Here the
//! whole-word part of a copy is done by one `rep movsq` in inline assembly (general-purpose registers only, so also
//! usable in a kernel, where SIMD registers are off limits without saving user state) instead; `mem` keeps
//! the word loop for the rest (short copies, the trailing partial word, targets without a bulk
//! copy).
//!
//! Why inline assembly and not `read_volatile`/`copy_nonoverlapping`: both are non-atomic
//! accesses in Rust's memory model, so racing with a concurrent write is undefined behaviour,
//! whether or not the write comes from a well-behaved host. An `asm!` block is opaque to the
//! compiler; its effect on memory is what the hardware does, which in the abstract machine's
//! terms is a sequence of relaxed atomic byte accesses (each byte the instruction loads is a
//! value some store wrote to that byte; nothing is assumed about it staying put). See the
//! `// SAFETY:` proofs below, and `docs/vmbus.md` §6 for what Miri and ThreadSanitizer can and
//! cannot check here.
//!
//! Only x86-64 has the bulk copy (and not under Miri, which cannot run inline assembly); on
//! every other target [`load_words`] and [`store_words`] copy nothing and `mem`'s word loop
//! does the whole copy, as before.
#![cfg_attr(
    all(target_arch = "x86_64", not(miri)),
    expect(
        unsafe_code,
        reason = "a racing-safe bulk copy needs inline assembly over shared memory"
    )
)]

use core::sync::atomic::{AtomicU64, Ordering};

/// Copies shorter than this many bytes stay on the word loop: `rep movsq` has a start-up cost
/// (tens of cycles without the "fast short rep mov" feature) that a few words do not repay,
/// and 32-byte packets must not get slower.
pub(crate) const BULK_MIN_BYTES: usize = 256;

/// Words to move one by one (relaxed atomics) before the bulk copy, so that its destination
/// starts on a 64-byte boundary if it can: fast-string copies to a misaligned destination are
/// up to twice as slow (measured on this project's AMD EPYC VM: 4 KiB in ~34 ns aligned, up to
/// ~70 ns misaligned).
fn head_words(dst_addr: usize, n: usize) -> usize {
    if dst_addr % 8 != 0 {
        return 0;
    }
    ((64 - dst_addr % 64) % 64 / 8).min(n)
}

/// Whether this build has a bulk copy (x86-64, not Miri).
pub(crate) const AVAILABLE: bool = cfg!(all(target_arch = "x86_64", not(miri)));

/// Copies the first `n = min(src.len(), dst.len() / 8)` words of `src` into `dst[..8 n]`
/// (little-endian, byte `8 i + k` of the data area to `dst[8 i + k]`) and returns `n`; or
/// copies nothing and returns 0 when the copy is shorter than [`BULK_MIN_BYTES`] or this
/// target has no bulk copy. The caller copies the rest.
///
/// `src` may be written by the host during the copy: `dst` then holds some mixture of old and
/// new bytes (garbage the ring never interprets: payload bytes are handed to the caller as
/// untrusted data, descriptors and indices are read elsewhere by single atomic loads).
#[inline]
pub(crate) fn load_words(src: &[AtomicU64], dst: &mut [u8]) -> usize {
    let n = src.len().min(dst.len() / 8);
    if !AVAILABLE || n * 8 < BULK_MIN_BYTES {
        return 0;
    }
    let (src, dst) = (&src[..n], &mut dst[..n * 8]);
    let head = head_words(dst.as_ptr().addr(), n);
    let (src_head, src) = src.split_at(head);
    let (dst_head, dst) = dst.split_at_mut(head * 8);
    for (chunk, w) in dst_head.chunks_exact_mut(8).zip(src_head) {
        chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    let n = src.len(); // == dst.len() / 8
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let from = src.as_ptr().cast::<u8>();
        let to = dst.as_mut_ptr();
        // SAFETY:
        // - In bounds: `from` points to `src`, a live shared slice of `src.len() >= n`
        //   `AtomicU64`s, so its first `n` words are readable; `to` points to `dst`, a live
        //   exclusive slice of `dst.len() >= 8 n` bytes, so `8 n` bytes are writable.
        //   `rep movsq` moves exactly `rcx = n` quadwords forwards from `rsi` to `rdi`: the
        //   direction flag is clear on entry to every `asm!` block (Rust's inline assembly
        //   rules) and the block does not change it. The registers it consumes are declared
        //   clobbered; it touches no stack and no flags. `dst` needs no alignment.
        // - No aliasing violation: `dst` is `&mut [u8]`, which no live `&[AtomicU64]` can
        //   overlap, so the bytes we write are ours alone; the words we read sit inside
        //   `UnsafeCell`s (the atomics), which shared references allow to change.
        // - A concurrent host write is not undefined behaviour in our code. `src` is 8-aligned
        //   (it is a slice of `AtomicU64`), so every source element is an aligned quadword
        //   inside one cache line, whose load the SDM guarantees to be atomic for string
        //   operations. To the abstract machine the block is therefore `n` relaxed
        //   `AtomicU64` loads, each followed by a plain store of its 8 bytes into `dst`
        //   (relaxed accesses to different words are unordered among themselves, which covers
        //   the string operation's freedom to reorder them): exactly the word loop in `mem`, which races with nothing non-atomically and
        //   with no access of another size (the host's stores, or an in-process peer's
        //   `AtomicU64` stores, are word stores too). The block is opaque, so the compiler
        //   assumes nothing about the loaded values. The worst a racing host gets is a mixture
        //   of old and new words in `dst`: every bit pattern is a valid `u8`, and the ring
        //   never derives an address or a length from payload bytes. The control page is a
        //   separate region, never covered by `src`, so ring indices are still read only by
        //   single `AtomicU32` loads in `ring`.
        // - Ordering: the block is not `nomem`/`readonly`, so the compiler keeps it after the
        //   Acquire load of the writer's index that validated this range and before the
        //   SeqCst store that publishes our read index. In hardware, x86-64 does not let a
        //   load pass an earlier load or a later store (string operations are not exempt for
        //   loads), and the publishing store is a locked `xchg`, a full barrier.
        unsafe {
            core::arch::asm!(
                "rep movsq",
                inout("rcx") n => _,
                inout("rsi") from => _,
                inout("rdi") to => _,
                options(nostack, preserves_flags),
            );
        }
        head + n
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        let _ = (src, dst, n);
        head
    }
}

/// Copies `src[..8 n]` into the first `n = min(dst.len(), src.len() / 8)` words of `dst`
/// (little-endian) and returns `n`; or copies nothing and returns 0 when the copy is shorter
/// than [`BULK_MIN_BYTES`] or this target has no bulk copy. The caller copies the rest.
///
/// The host may read or write `dst` during the copy (it should not, the range is not
/// published yet): it then sees or leaves garbage in memory it controls anyway; our own
/// memory and state are unaffected.
#[inline]
pub(crate) fn store_words(src: &[u8], dst: &[AtomicU64]) -> usize {
    let n = dst.len().min(src.len() / 8);
    if !AVAILABLE || n * 8 < BULK_MIN_BYTES {
        return 0;
    }
    let (src, dst) = (&src[..n * 8], &dst[..n]);
    let head = head_words(dst.as_ptr().addr(), n);
    let (src_head, src) = src.split_at(head * 8);
    let (dst_head, dst) = dst.split_at(head);
    for (chunk, w) in src_head.chunks_exact(8).zip(dst_head) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        w.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
    let n = dst.len(); // == src.len() / 8
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let from = src.as_ptr();
        // Writing through a pointer derived from `&[AtomicU64]` is allowed: every byte of an
        // `AtomicU64` is inside an `UnsafeCell`.
        let to = dst.as_ptr().cast::<u8>().cast_mut();
        // SAFETY:
        // - In bounds: `from` points to `src`, a live slice of `src.len() >= 8 n` bytes;
        //   `to` points to `dst`, a live slice of `dst.len() >= n` `AtomicU64`s, so `8 n`
        //   bytes are readable and `n` words writable respectively. `rep movsq` moves exactly
        //   `rcx = n` quadwords forwards (direction flag clear on entry to every `asm!` block,
        //   not changed here); consumed registers are declared clobbered; no stack, no flags.
        //   `src` needs no alignment.
        // - No aliasing violation: the destination words are inside `UnsafeCell`s (the
        //   atomics), which may be written through a shared reference; `src` is a shared
        //   `&[u8]`, which cannot overlap memory that is being mutated.
        // - A concurrent host access is not undefined behaviour in our code. `dst` is
        //   8-aligned, so every element store is an aligned quadword inside one cache line,
        //   atomic per the SDM. To the abstract machine the block is `n` plain 8-byte loads
        //   from `src`, each followed by a relaxed `AtomicU64` store into the data area:
        //   exactly the word loop in `mem`, the same access size as the host's (or an
        //   in-process peer's) word accesses. If the host writes the same words meanwhile,
        //   the result is garbage in a range only the host will read; nothing of ours is read
        //   back from it (the trailer and descriptor words are written by single atomic
        //   stores, and our cursor is private).
        // - Ordering: the block is not `nomem`, so the compiler keeps it before the SeqCst
        //   store that publishes the write index. In hardware, the stores of one fast-string
        //   operation may become visible out of order among themselves, but string operations
        //   are not reordered with other stores; the publication is moreover a locked `xchg`
        //   (full barrier), the "separate semaphore after the string operation" the SDM
        //   prescribes. A reader that sees the new index therefore sees all the payload.
        unsafe {
            core::arch::asm!(
                "rep movsq",
                inout("rcx") n => _,
                inout("rsi") from => _,
                inout("rdi") to => _,
                options(nostack, preserves_flags),
            );
        }
        head + n
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        let _ = (src, dst, n);
        head
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::mem::{ControlWord, FlatRingMem, RingMem};
    use crate::ring::{IncomingRing, OutgoingRing, ReadError};
    use core::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::vec::Vec;

    fn words(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|i| AtomicU64::new(!(i as u64))).collect()
    }

    #[test]
    fn bulk_copies_whole_words_or_nothing() {
        let src: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
        let area = words(128);
        // 64 words = 512 bytes: above the threshold.
        let stored = store_words(&src[..515], &area[3..]);
        let loaded = {
            let mut back = [0u8; 515];
            let n = load_words(&area[3..67], &mut back);
            if n > 0 {
                assert_eq!(
                    &back[..512],
                    &src[..512],
                    "bulk load returns the stored bytes"
                );
                assert_eq!(&back[512..], &[0, 0, 0], "bytes past the words untouched");
            }
            n
        };
        if AVAILABLE {
            assert_eq!(
                stored, 64,
                "515 bytes = 64 whole words, the tail is the caller's"
            );
            assert_eq!(loaded, 64);
            for (i, w) in area.iter().enumerate() {
                let want = if (3..67).contains(&i) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&src[(i - 3) * 8..(i - 2) * 8]);
                    u64::from_le_bytes(b)
                } else {
                    !(i as u64)
                };
                assert_eq!(w.load(Ordering::Relaxed), want, "word {i}");
            }
        } else {
            assert_eq!((stored, loaded), (0, 0), "no bulk copy on this target");
        }
        // Below the threshold nothing is copied: the word loop does it.
        let mut small = [0u8; BULK_MIN_BYTES - 8];
        assert_eq!(load_words(&area, &mut small), 0);
        assert_eq!(store_words(&small, &area), 0);
        assert_eq!(load_words(&[], &mut [0u8; 4096]), 0);
    }

    /// A "host" thread scribbles random words all over the data area while the guest writes
    /// and reads 4 KiB packets through the same ring (the payload copies take the bulk path
    /// where the target has one). Every outcome must be a value or a typed error, published
    /// indices stay valid, and once the host stops the ring carries packets intact again.
    /// Run under Miri (atomic word loop: Miri cannot execute inline assembly) and natively /
    /// under ThreadSanitizer (bulk path); see `docs/vmbus.md` §6.
    #[test]
    fn host_scribbles_data_area_while_guest_copies() {
        const SIZE: usize = 16 * 1024;
        let rounds = if cfg!(miri) { 6 } else { 500 };
        let mem = Arc::new(FlatRingMem::new(SIZE));
        let stop = Arc::new(AtomicBool::new(false));
        // Host writes so far: the guest waits for some between writing and reading a packet,
        // so scribbles land on packets in flight however the threads are scheduled.
        let progress = Arc::new(AtomicU64::new(0));
        let host = {
            let (mem, stop, progress) =
                (Arc::clone(&mem), Arc::clone(&stop), Arc::clone(&progress));
            std::thread::spawn(move || {
                let data = mem.data();
                let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
                let mut writes = 0u64;
                let mut at = 0;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Sweeps over every word: payloads, descriptors and trailers alike.
                    data[at].store(x, Ordering::Relaxed);
                    at = (at + 1) % data.len();
                    writes += 1;
                    progress.store(writes, Ordering::Relaxed);
                    if cfg!(miri) {
                        std::thread::yield_now();
                    }
                }
                writes
            })
        };
        let wait_writes = if cfg!(miri) { 16 } else { 64 };

        let payload: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let mut buf = std::vec![0u8; 4096 + 64];
        let mut out = OutgoingRing::new(&*mem).unwrap();
        let mut inc = IncomingRing::new(&*mem).unwrap();
        let (mut intact, mut torn, mut refused) = (0u32, 0u32, 0u32);
        for _ in 0..rounds {
            // Each round starts on an empty ring (see the resync below) and the "host" never
            // touches the control page, so the write always fits and its checks pass.
            let ok = out.write_in_band(9, false, &payload).unwrap();
            assert_eq!(ok.ring_bytes, 4120);
            // The host runs until `stop`, so this wait ends.
            let seen = progress.load(Ordering::Relaxed);
            let mut spins = 0u32;
            while progress.load(Ordering::Relaxed) < seen + wait_writes {
                // Spin while the host runs on another CPU; yield now and then in case it
                // shares ours.
                spins = spins.wrapping_add(1);
                if cfg!(miri) || spins % 64 == 0 {
                    std::thread::yield_now();
                } else {
                    core::hint::spin_loop();
                }
            }
            let mut resync = false;
            match inc.read(&mut buf) {
                Ok(Some(p)) => {
                    assert!(p.len <= buf.len() && p.len % 8 == 0, "{p:?}");
                    assert!(p.ring_bytes <= SIZE - 8, "{p:?}");
                    if p.len == 4096 && buf[..4096] == payload[..] {
                        intact += 1;
                    } else {
                        torn += 1;
                    }
                }
                Ok(None) => panic!("a packet was just published"),
                Err(ReadError::Corrupt(_) | ReadError::BufferTooSmall { .. }) => {
                    refused += 1;
                    resync = true;
                }
            }
            for word in [ControlWord::WRITE_INDEX, ControlWord::READ_INDEX] {
                let v = mem.control().load(word, Ordering::SeqCst);
                assert!((v as usize) < SIZE && v % 8 == 0, "{word:?} = {v:#x}");
            }
            // A refused packet stays in the ring, and a scribbled length makes the reader stop
            // short of the writer: start both ends afresh on an empty ring.
            if resync || inc.committed_index() != out.committed_index() {
                mem.control().init();
                out = OutgoingRing::new(&*mem).unwrap();
                inc = IncomingRing::new(&*mem).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let writes = host.join().unwrap();
        assert!(writes > 0);
        assert_eq!(
            intact + torn + refused,
            rounds,
            "every round has exactly one outcome"
        );

        // Host quiet: the same ring carries packets intact again, across the wrap.
        mem.control().init();
        let mut out = OutgoingRing::new(&*mem).unwrap();
        let mut inc = IncomingRing::new(&*mem).unwrap();
        for round in 0..8u8 {
            let p: Vec<u8> = payload.iter().map(|b| b ^ round).collect();
            out.write_in_band(u64::from(round), false, &p).unwrap();
            let got = inc.read(&mut buf).unwrap().unwrap();
            assert_eq!((got.transaction_id, got.len), (u64::from(round), 4096));
            assert_eq!(&buf[..4096], &p[..]);
        }
    }
}
