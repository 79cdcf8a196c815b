//! Ring memory: the 4 KiB control page and the data area, reached only through atomics.
//!
//! A ring's memory is shared with the other side (the host, or the simulated host), which may
//! write anything into it at any time. Every access therefore goes through atomics:
//! [`ControlPage`] is 1024 `AtomicU32` words, the data area is a slice of `AtomicU64` words.
//! Nothing here can read or write outside those slices; the copy helpers return
//! [`OutOfBounds`] instead of panicking when asked to. [`read_bytes`] and [`write_bytes`] move
//! the whole-word part of copies of 256 bytes or more with a bulk copy (`rep movsq` on x86-64,
//! in the `shared_mem` island; per word it is the same relaxed atomic access) and the rest one
//! atomic word at a time; [`has_bulk_copy`] says whether this build has it, and
//! `set_word_copy` (feature `word-copy-switch`) turns it off at run time for comparisons.
//!
//! [`RingMem`] is the one small trait the ring code is generic over. Implementations:
//! - [`BorrowedRingMem`]: borrows a control page and data words (no allocation);
//! - [`FlatRingMem`] (feature `alloc`): owns them on the heap, for tests and the simulator;
//! - [`SharedRingMem`]: built from raw pointers to pages shared with a host, the crate's only
//!   `unsafe` island (module `shared_mem`).
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use crate::shared_mem::{SharedMemError, SharedRingMem};

/// Size of the control page in bytes.
pub const CONTROL_PAGE_SIZE: usize = 4096;
/// Number of 32-bit words in the control page.
pub const CONTROL_PAGE_WORDS: usize = CONTROL_PAGE_SIZE / 4;

/// Bit in [`ControlWord::FEATURE_BITS`]: the ring supports the pending-send-size protocol.
#[doc(alias = "feat_pending_send_sz")]
pub const FEATURE_SUPPORTS_PENDING_SEND_SIZE: u32 = 1;

/// Index of a 32-bit word in the control page (byte offset = 4 × index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlWord(pub usize);

impl ControlWord {
    /// Byte offset of the next byte the writer will write (byte 0). Owned by the writer.
    #[doc(alias = "write_index")]
    pub const WRITE_INDEX: Self = Self(0);
    /// Byte offset of the next byte the reader will read (byte 4). Owned by the reader.
    #[doc(alias = "read_index")]
    pub const READ_INDEX: Self = Self(1);
    /// Non-zero: the reader does not want a signal when data arrives (byte 8). Owned by the
    /// reader.
    #[doc(alias = "interrupt_mask")]
    pub const INTERRUPT_MASK: Self = Self(2);
    /// Bytes the writer is waiting for; the reader signals once that much is free (byte 12).
    /// Owned by the writer.
    #[doc(alias = "pending_send_sz")]
    pub const PENDING_SEND_SIZE: Self = Self(3);
    /// Feature bits (byte 64), see [`FEATURE_SUPPORTS_PENDING_SEND_SIZE`].
    #[doc(alias = "feature_bits")]
    pub const FEATURE_BITS: Self = Self(16);

    /// Byte offset of this word in the control page.
    #[must_use]
    pub const fn byte_offset(self) -> usize {
        self.0 * 4
    }
}

/// The 4 KiB control page at the start of a ring: 1024 atomic 32-bit words, of which the ring
/// uses the five named by [`ControlWord`]; the rest is reserved.
#[repr(transparent)]
pub struct ControlPage(pub [AtomicU32; CONTROL_PAGE_WORDS]);

const _: () = assert!(size_of::<ControlPage>() == CONTROL_PAGE_SIZE);

impl ControlPage {
    /// A zeroed control page.
    #[must_use]
    pub fn new() -> Self {
        Self(core::array::from_fn(|_| AtomicU32::new(0)))
    }

    /// Loads a word. An index outside the page reads as 0 (never panics).
    #[must_use]
    #[inline]
    pub fn load(&self, word: ControlWord, order: Ordering) -> u32 {
        self.0.get(word.0).map_or(0, |w| w.load(order))
    }

    /// Stores a word. An index outside the page is ignored (never panics).
    #[inline]
    pub fn store(&self, word: ControlWord, value: u32, order: Ordering) {
        if let Some(w) = self.0.get(word.0) {
            w.store(value, order);
        }
    }

    /// Resets the page the way a ring's creator does: everything zero, then the feature bits
    /// to [`FEATURE_SUPPORTS_PENDING_SEND_SIZE`].
    pub fn init(&self) {
        for w in &self.0 {
            w.store(0, Ordering::Relaxed);
        }
        self.store(
            ControlWord::FEATURE_BITS,
            FEATURE_SUPPORTS_PENDING_SEND_SIZE,
            Ordering::SeqCst,
        );
    }

    /// A copy of the page's bytes (little-endian words).
    #[must_use]
    pub fn snapshot(&self) -> [u8; CONTROL_PAGE_SIZE] {
        let mut out = [0u8; CONTROL_PAGE_SIZE];
        for (chunk, w) in out.chunks_exact_mut(4).zip(self.0.iter()) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        out
    }

    /// Overwrites the page with `bytes` (little-endian words; a short slice writes a prefix,
    /// a trailing partial word is zero-extended).
    pub fn fill_from(&self, bytes: &[u8]) {
        for (chunk, w) in bytes.chunks(4).zip(self.0.iter()) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            w.store(u32::from_le_bytes(word), Ordering::SeqCst);
        }
    }
}

impl Default for ControlPage {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for ControlPage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ControlPage")
            .field(
                "write_index",
                &self.load(ControlWord::WRITE_INDEX, Ordering::Relaxed),
            )
            .field(
                "read_index",
                &self.load(ControlWord::READ_INDEX, Ordering::Relaxed),
            )
            .field(
                "interrupt_mask",
                &self.load(ControlWord::INTERRUPT_MASK, Ordering::Relaxed),
            )
            .field(
                "pending_send_size",
                &self.load(ControlWord::PENDING_SEND_SIZE, Ordering::Relaxed),
            )
            .field(
                "feature_bits",
                &self.load(ControlWord::FEATURE_BITS, Ordering::Relaxed),
            )
            .finish()
    }
}

/// A copy touched memory outside the data area (a ring-logic bug or a caller error, never
/// reachable from host-written values, which are validated first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ring data access out of bounds: offset {offset}, {len} bytes, data area {size} bytes")]
pub struct OutOfBounds {
    /// Start byte offset asked for.
    pub offset: usize,
    /// Length asked for.
    pub len: usize,
    /// Size of the data area.
    pub size: usize,
}

/// The memory of one ring: a control page and a data area of 64-bit words.
///
/// The data area's byte size (8 × word count) must be a multiple of 8 and at least 32 bytes;
/// the rings check that when they are created.
pub trait RingMem {
    /// The control page.
    fn control(&self) -> &ControlPage;
    /// The data area, as 64-bit words in ring order (byte `8 i .. 8 i + 8` is word `i`,
    /// little-endian).
    fn data(&self) -> &[AtomicU64];
}

impl<T: RingMem + ?Sized> RingMem for &T {
    fn control(&self) -> &ControlPage {
        (**self).control()
    }
    fn data(&self) -> &[AtomicU64] {
        (**self).data()
    }
}

#[cfg(feature = "alloc")]
impl<T: RingMem + ?Sized> RingMem for alloc::sync::Arc<T> {
    fn control(&self) -> &ControlPage {
        (**self).control()
    }
    fn data(&self) -> &[AtomicU64] {
        (**self).data()
    }
}

/// Byte size of a data area.
#[must_use]
#[inline]
pub fn data_size(data: &[AtomicU64]) -> usize {
    data.len().saturating_mul(8)
}

/// Splits `len` bytes starting at 8-aligned byte `offset` into the (at most two) word ranges
/// they occupy, wrapping once at the end of the data area.
#[inline]
fn word_ranges(
    data: &[AtomicU64],
    offset: usize,
    len: usize,
) -> Result<(&[AtomicU64], &[AtomicU64]), OutOfBounds> {
    let size = data_size(data);
    let oob = OutOfBounds { offset, len, size };
    if offset % 8 != 0 || offset >= size || len > size {
        return Err(oob);
    }
    let words = len.div_ceil(8);
    let start = offset / 8;
    let first_len = words.min(data.len() - start);
    let first = data.get(start..start + first_len).ok_or(oob)?;
    let second = data.get(..words - first_len).ok_or(oob)?;
    Ok((first, second))
}

/// Routes every data-area copy through the word-at-a-time loop (one atomic access per 8
/// bytes) instead of the bulk copy, when set (feature `word-copy-switch`).
#[cfg(feature = "word-copy-switch")]
static WORD_COPY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Selects the copy path for [`read_bytes`] and [`write_bytes`] at run time: `true` = the
/// original word-at-a-time loop (one `Relaxed` `AtomicU64` access per 8 bytes), `false` (the
/// default) = the bulk copy where this target has one. Both give the same bytes; this exists
/// so benchmarks and tests can compare them in one run. Process-wide.
#[cfg(feature = "word-copy-switch")]
pub fn set_word_copy(word_at_a_time: bool) {
    WORD_COPY.store(word_at_a_time, Ordering::Relaxed);
}

/// Whether the bulk copy may be used (see `set_word_copy`, feature `word-copy-switch`).
#[inline]
fn bulk_allowed() -> bool {
    #[cfg(feature = "word-copy-switch")]
    {
        !WORD_COPY.load(Ordering::Relaxed)
    }
    #[cfg(not(feature = "word-copy-switch"))]
    {
        true
    }
}

/// Whether this build has a bulk copy for the data area (x86-64 outside Miri). Without it, all
/// copies take the word-at-a-time loop.
#[must_use]
pub const fn has_bulk_copy() -> bool {
    crate::shared_mem::copy::AVAILABLE
}

/// Copies whole words into `buf` (8 bytes each), the last word truncated to what is left: the
/// bulk copy for the whole-word part when it pays, the word loop for the rest.
#[inline]
pub(crate) fn words_to_bytes(words: &[AtomicU64], buf: &mut [u8]) {
    let done = if buf.len() >= crate::shared_mem::copy::BULK_MIN_BYTES && bulk_allowed() {
        crate::shared_mem::copy::load_words(words, buf)
    } else {
        0
    };
    if let (Some(words), Some(buf @ [_, ..])) = (words.get(done..), buf.get_mut(done * 8..)) {
        words_to_bytes_scalar(words, buf);
    }
}

/// Copies `bytes` into whole words, zero-padding the last partial word: the bulk copy for the
/// whole-word part when it pays, the word loop for the rest.
#[inline]
pub(crate) fn bytes_to_words(bytes: &[u8], words: &[AtomicU64]) {
    let done = if bytes.len() >= crate::shared_mem::copy::BULK_MIN_BYTES && bulk_allowed() {
        crate::shared_mem::copy::store_words(bytes, words)
    } else {
        0
    };
    if let (Some(bytes @ [_, ..]), Some(words)) = (bytes.get(done * 8..), words.get(done..)) {
        bytes_to_words_scalar(bytes, words);
    }
}

/// [`words_to_bytes`] one `Relaxed` atomic load per word (the original copy loop).
#[inline]
fn words_to_bytes_scalar(words: &[AtomicU64], buf: &mut [u8]) {
    let mut chunks = buf.chunks_exact_mut(8);
    let mut words = words.iter();
    for (chunk, w) in (&mut chunks).zip(&mut words) {
        chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    let tail = chunks.into_remainder();
    if let (false, Some(w)) = (tail.is_empty(), words.next()) {
        let bytes = w.load(Ordering::Relaxed).to_le_bytes();
        tail.copy_from_slice(bytes.get(..tail.len()).unwrap_or(&[]));
    }
}

/// [`bytes_to_words`] one `Relaxed` atomic store per word (the original copy loop).
#[inline]
fn bytes_to_words_scalar(bytes: &[u8], words: &[AtomicU64]) {
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    let mut words = words.iter();
    for (chunk, w) in chunks.zip(&mut words) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        w.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
    if let (false, Some(w)) = (tail.is_empty(), words.next()) {
        let mut word = [0u8; 8];
        if let Some(dst) = word.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        w.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
}

/// The words holding `len` bytes from 8-aligned byte `offset` when they lie in one piece (do
/// not wrap at the end of the data area); `None` otherwise (then [`read_bytes`] and
/// [`write_bytes`] handle the wrap). The ring's fast path for packets that do not wrap.
#[inline]
pub(crate) fn contiguous(data: &[AtomicU64], offset: usize, len: usize) -> Option<&[AtomicU64]> {
    if offset % 8 != 0 {
        return None;
    }
    let start = offset / 8;
    data.get(start..start.checked_add(len.div_ceil(8))?)
}

/// Copies `buf.len()` bytes out of the data area starting at 8-aligned byte `offset`, wrapping
/// once at the end. `buf.len()` may be any length up to the data size.
#[inline]
pub fn read_bytes(data: &[AtomicU64], offset: usize, buf: &mut [u8]) -> Result<(), OutOfBounds> {
    let (first, second) = word_ranges(data, offset, buf.len())?;
    let split = (first.len() * 8).min(buf.len());
    let (a, b) = buf.split_at_mut(split);
    words_to_bytes(first, a);
    if !b.is_empty() {
        words_to_bytes(second, b);
    }
    Ok(())
}

/// Writes `bytes` into the data area starting at 8-aligned byte `offset`, wrapping once at the
/// end. A trailing partial word is zero-padded (the ring's payload padding).
#[inline]
pub fn write_bytes(data: &[AtomicU64], offset: usize, bytes: &[u8]) -> Result<(), OutOfBounds> {
    let (first, second) = word_ranges(data, offset, bytes.len())?;
    let split = (first.len() * 8).min(bytes.len());
    let (a, b) = bytes.split_at(split);
    bytes_to_words(a, first);
    if !b.is_empty() {
        bytes_to_words(b, second);
    }
    Ok(())
}

/// Reads the 64-bit word at 8-aligned byte `offset` (which must be inside the data area).
#[inline]
pub fn read_word(data: &[AtomicU64], offset: usize) -> Result<u64, OutOfBounds> {
    let size = data_size(data);
    if offset % 8 != 0 {
        return Err(OutOfBounds {
            offset,
            len: 8,
            size,
        });
    }
    data.get(offset / 8)
        .map(|w| w.load(Ordering::Relaxed))
        .ok_or(OutOfBounds {
            offset,
            len: 8,
            size,
        })
}

/// Writes the 64-bit word at 8-aligned byte `offset` (which must be inside the data area).
#[inline]
pub fn write_word(data: &[AtomicU64], offset: usize, value: u64) -> Result<(), OutOfBounds> {
    let size = data_size(data);
    let oob = OutOfBounds {
        offset,
        len: 8,
        size,
    };
    if offset % 8 != 0 {
        return Err(oob);
    }
    data.get(offset / 8)
        .ok_or(oob)?
        .store(value, Ordering::Relaxed);
    Ok(())
}

/// Ring memory borrowed from elsewhere: no allocation, no `unsafe`.
#[derive(Clone, Copy, Debug)]
pub struct BorrowedRingMem<'a> {
    control: &'a ControlPage,
    data: &'a [AtomicU64],
}

impl<'a> BorrowedRingMem<'a> {
    /// Wraps a control page and a data area.
    #[must_use]
    pub fn new(control: &'a ControlPage, data: &'a [AtomicU64]) -> Self {
        Self { control, data }
    }
}

impl RingMem for BorrowedRingMem<'_> {
    fn control(&self) -> &ControlPage {
        self.control
    }
    fn data(&self) -> &[AtomicU64] {
        self.data
    }
}

#[cfg(feature = "alloc")]
pub use flat::FlatRingMem;

#[cfg(feature = "alloc")]
mod flat {
    use super::{CONTROL_PAGE_SIZE, ControlPage, RingMem};
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicU64, Ordering};

    /// Heap-allocated ring memory (a control page plus a data area), for tests and the
    /// simulator. Both ends of a ring share one `FlatRingMem` (for example through an `Arc`).
    pub struct FlatRingMem {
        control: Box<ControlPage>,
        data: Box<[AtomicU64]>,
    }

    impl FlatRingMem {
        /// Allocates a ring with a `data_size`-byte data area (rounded down to a multiple of
        /// 8) and an initialised control page (indices 0, interrupts unmasked, feature bit
        /// for pending-send-size set).
        #[must_use]
        pub fn new(data_size: usize) -> Self {
            let data: Vec<AtomicU64> = (0..data_size / 8).map(|_| AtomicU64::new(0)).collect();
            let control = Box::new(ControlPage::new());
            control.init();
            Self {
                control,
                data: data.into_boxed_slice(),
            }
        }

        /// A ring with the Dynamic Memory channel's size: 16 KiB of data (plus the 4 KiB
        /// control page), see `dm-protocol.md` §0.
        #[must_use]
        pub fn dm_channel() -> Self {
            Self::new(crate::DM_RING_DATA_SIZE)
        }

        /// Total bytes a real mapping of this ring would take (control page + data).
        #[must_use]
        pub fn mapped_size(&self) -> usize {
            CONTROL_PAGE_SIZE + self.data.len() * 8
        }

        /// A copy of the data area's bytes.
        #[must_use]
        pub fn data_snapshot(&self) -> Vec<u8> {
            self.data
                .iter()
                .flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes())
                .collect()
        }

        /// Overwrites the data area with `bytes` from byte 0 (a short slice writes a prefix; a
        /// trailing partial word is zero-extended).
        pub fn fill_data(&self, bytes: &[u8]) {
            for (chunk, w) in bytes.chunks(8).zip(self.data.iter()) {
                let mut word = [0u8; 8];
                if let Some(dst) = word.get_mut(..chunk.len()) {
                    dst.copy_from_slice(chunk);
                }
                w.store(u64::from_le_bytes(word), Ordering::Relaxed);
            }
        }
    }

    impl RingMem for FlatRingMem {
        fn control(&self) -> &ControlPage {
            &self.control
        }
        fn data(&self) -> &[AtomicU64] {
            &self.data
        }
    }

    impl core::fmt::Debug for FlatRingMem {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("FlatRingMem")
                .field("control", &*self.control)
                .field("data_size", &(self.data.len() * 8))
                .finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> std::vec::Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn control_word_offsets_match_linux_layout() {
        assert_eq!(ControlWord::WRITE_INDEX.byte_offset(), 0);
        assert_eq!(ControlWord::READ_INDEX.byte_offset(), 4);
        assert_eq!(ControlWord::INTERRUPT_MASK.byte_offset(), 8);
        assert_eq!(ControlWord::PENDING_SEND_SIZE.byte_offset(), 12);
        assert_eq!(ControlWord::FEATURE_BITS.byte_offset(), 64);
    }

    #[test]
    fn control_page_out_of_range_word_is_harmless() {
        let c = ControlPage::new();
        c.store(ControlWord(5000), 7, Ordering::SeqCst);
        assert_eq!(c.load(ControlWord(5000), Ordering::SeqCst), 0);
        c.init();
        let snap = c.snapshot();
        assert_eq!(snap[64], 1);
        c.fill_from(&[1, 2, 3, 4, 5]);
        assert_eq!(c.load(ControlWord(0), Ordering::SeqCst), 0x0403_0201);
        assert_eq!(c.load(ControlWord(1), Ordering::SeqCst), 5);
    }

    #[test]
    fn copies_wrap_once_and_pad() {
        let data = words(4); // 32 bytes
        let src: std::vec::Vec<u8> = (1..=13).collect();
        write_bytes(&data, 24, &src).unwrap();
        let mut back = [0u8; 16];
        read_bytes(&data, 24, &mut back).unwrap();
        assert_eq!(&back[..13], &src[..]);
        assert_eq!(&back[13..], &[0, 0, 0], "tail padded with zeros");
        assert_eq!(
            read_word(&data, 0).unwrap(),
            u64::from_le_bytes([9, 10, 11, 12, 13, 0, 0, 0])
        );
    }

    #[test]
    fn bulk_and_word_copies_agree() {
        // 1 KiB area; every 8-aligned offset; lengths around the bulk threshold, the trailing
        // partial word and the wrap. Reference: the word loop alone.
        let size = 1024;
        let src: std::vec::Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
        let snapshot = |d: &[AtomicU64]| -> std::vec::Vec<u64> {
            d.iter().map(|w| w.load(Ordering::Relaxed)).collect()
        };
        let lens = [0, 1, 8, 248, 255, 256, 257, 263, 264, 511, 600, 1017, 1024];
        for offset in (0..size).step_by(8) {
            for len in lens {
                let (bulk, word) = (words(size / 8), words(size / 8));
                for (i, (a, b)) in bulk.iter().zip(&word).enumerate() {
                    a.store(!(i as u64), Ordering::Relaxed);
                    b.store(!(i as u64), Ordering::Relaxed);
                }
                write_bytes(&bulk, offset, &src[..len]).unwrap();
                let (first, second) = word_ranges(&word, offset, len).unwrap();
                let split = (first.len() * 8).min(len);
                bytes_to_words_scalar(&src[..split], first);
                bytes_to_words_scalar(&src[split..len], second);
                assert_eq!(
                    snapshot(&bulk),
                    snapshot(&word),
                    "write at {offset}, {len} B"
                );

                let mut got = std::vec![0xeeu8; len + 8];
                read_bytes(&bulk, offset, &mut got[..len]).unwrap();
                let mut want = std::vec![0xeeu8; len + 8];
                let (a, b) = want[..len].split_at_mut(split);
                words_to_bytes_scalar(first, a);
                words_to_bytes_scalar(second, b);
                assert_eq!(got, want, "read at {offset}, {len} B");
                assert_eq!(&got[..len], &src[..len]);
            }
        }
    }

    #[test]
    fn copies_refuse_out_of_bounds() {
        let data = words(4);
        let mut buf = [0u8; 8];
        assert!(read_bytes(&data, 32, &mut buf).is_err());
        assert!(read_bytes(&data, 4, &mut buf).is_err());
        assert!(write_bytes(&data, 0, &[0u8; 33]).is_err());
        assert!(read_word(&data, 32).is_err());
        assert!(write_word(&data, 3, 0).is_err());
        assert!(read_bytes(&[], 0, &mut []).is_err());
    }
}
