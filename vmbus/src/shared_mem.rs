//! The crate's only `unsafe` island: ring memory built from raw pointers to pages shared with
//! a host, as a kernel driver gets them after mapping a GPADL, and (submodule `copy`) bulk
//! copies through the data area.
//!
//! UNSAFETY: turning the raw pointers into `&[AtomicU32]` / `&[AtomicU64]` slices. After that,
//! every access is an atomic load or store through safe code in [`crate::mem`], or a bulk copy
//! in `copy` that is, per word, the same relaxed atomic access, so bytes the host writes at
//! any moment are never a data race on our side and any bit pattern is a valid value.
//! Alignment and size are checked at run time, so the caller's obligations are only validity,
//! lifetime and "atomics only".
#![expect(
    unsafe_code,
    reason = "raw shared pages must be turned into atomic slices once"
)]

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::mem::{BorrowedRingMem, CONTROL_PAGE_SIZE, ControlPage, RingMem};

pub(crate) mod copy;

/// Why raw pointers were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SharedMemError {
    /// The control page pointer is not 4-byte aligned.
    #[error("control page at {addr:#x} is not 4-byte aligned")]
    ControlMisaligned {
        /// The address given.
        addr: usize,
    },
    /// The data area pointer is not 8-byte aligned.
    #[error("data area at {addr:#x} is not 8-byte aligned")]
    DataMisaligned {
        /// The address given.
        addr: usize,
    },
    /// The data area size is not a non-zero multiple of 8 that fits in `isize`.
    #[error("data area size {size} is not a non-zero multiple of 8 below isize::MAX")]
    BadDataSize {
        /// The size given.
        size: usize,
    },
}

/// Ring memory in pages shared with a host (a control page and a data area), accessed only
/// through atomics.
#[derive(Clone, Copy, Debug)]
pub struct SharedRingMem<'a> {
    inner: BorrowedRingMem<'a>,
}

impl<'a> SharedRingMem<'a> {
    /// Wraps a mapped control page and data area.
    ///
    /// # Safety
    ///
    /// For the whole lifetime `'a`:
    /// - `control` points to [`CONTROL_PAGE_SIZE`] bytes and `data` to `data_size` bytes, both
    ///   valid for reads and writes (mapped, not freed, not unmapped);
    /// - the two regions do not overlap;
    /// - in this address space those bytes are accessed only through atomic operations (this
    ///   type, or other atomic views), never through plain references or non-atomic copies.
    ///   The peer (the host) may write them at any time; that is expected.
    ///
    /// # Errors
    ///
    /// Misaligned pointers or a data size that is zero, not a multiple of 8 or above
    /// `isize::MAX` are refused with [`SharedMemError`].
    pub unsafe fn new(
        control: NonNull<u8>,
        data: NonNull<u8>,
        data_size: usize,
    ) -> Result<Self, SharedMemError> {
        let control_addr = control.as_ptr() as usize;
        let data_addr = data.as_ptr() as usize;
        if control_addr % align_of::<AtomicU32>() != 0 {
            return Err(SharedMemError::ControlMisaligned { addr: control_addr });
        }
        if data_addr % align_of::<AtomicU64>() != 0 {
            return Err(SharedMemError::DataMisaligned { addr: data_addr });
        }
        if data_size == 0 || data_size % 8 != 0 || data_size > isize::MAX as usize {
            return Err(SharedMemError::BadDataSize { size: data_size });
        }
        // SAFETY: `control` is non-null, 4-byte aligned (checked above; `ControlPage` is
        // `repr(transparent)` over `[AtomicU32; 1024]`, alignment 4) and, by the caller's
        // contract, points to CONTROL_PAGE_SIZE (= size_of::<ControlPage>()) bytes valid for
        // reads and writes for 'a. `AtomicU32` has the same size and bit validity as `u32`, so
        // any bytes are a valid `ControlPage`. A shared reference to atomics permits the
        // concurrent writes the host makes; the caller guarantees we never access the bytes
        // non-atomically, so no other reference aliases them mutably.
        let control: &'a ControlPage = unsafe { control.cast::<ControlPage>().as_ref() };
        // SAFETY: `data` is non-null, 8-byte aligned (checked), points to `data_size` bytes
        // valid for reads and writes for 'a (caller's contract); `data_size` is a multiple of 8
        // and at most isize::MAX (checked), so `data_size / 8` `AtomicU64`s (same size and bit
        // validity as `u64`) exactly cover the region. The regions do not overlap and are only
        // accessed atomically (caller's contract), as for the control page.
        let data: &'a [AtomicU64] = unsafe {
            core::slice::from_raw_parts(data.cast::<AtomicU64>().as_ptr(), data_size / 8)
        };
        Ok(Self {
            inner: BorrowedRingMem::new(control, data),
        })
    }
}

const _: () = assert!(size_of::<ControlPage>() == CONTROL_PAGE_SIZE);

impl RingMem for SharedRingMem<'_> {
    fn control(&self) -> &ControlPage {
        self.inner.control()
    }
    fn data(&self) -> &[AtomicU64] {
        self.inner.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::ControlWord;
    use crate::ring::{IncomingRing, OutgoingRing};
    use core::sync::atomic::Ordering;
    use std::vec::Vec;

    #[test]
    fn shared_mem_over_a_real_buffer_carries_packets() {
        // One "mapping": control page words followed by data words, as a GPADL would be.
        let page: Vec<AtomicU64> = (0..(4096 + 256) / 8).map(|_| AtomicU64::new(0)).collect();
        let base = NonNull::from(&page[0]).cast::<u8>();
        let data = NonNull::from(&page[4096 / 8]).cast::<u8>();
        // SAFETY: `page` lives until the end of the test (longer than `mem`), is 4096 + 256
        // bytes, the two regions are disjoint (control: first 4096 bytes, data: the last 256),
        // and `page` is only accessed atomically while `mem` exists.
        let mem = unsafe { SharedRingMem::new(base, data, 256) }.unwrap();
        mem.control().init();
        assert_eq!(
            mem.control()
                .load(ControlWord::FEATURE_BITS, Ordering::SeqCst),
            1
        );
        let mut out = OutgoingRing::new(&mem).unwrap();
        let mut inc = IncomingRing::new(&mem).unwrap();
        out.write_in_band(7, false, b"hello").unwrap();
        let mut buf = [0u8; 16];
        let p = inc.read(&mut buf).unwrap().unwrap();
        assert_eq!(p.transaction_id, 7);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            page[0].load(Ordering::SeqCst) & 0xffff_ffff,
            32,
            "write index in byte 0"
        );
    }

    #[test]
    fn shared_mem_refuses_bad_geometry() {
        let page: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        let base = NonNull::from(&page[0]).cast::<u8>();
        let odd = NonNull::new(base.as_ptr().wrapping_add(4)).unwrap();
        // SAFETY: the constructor fails before creating any reference (checked size and
        // alignment come first), so the pointers are never dereferenced.
        let err = unsafe { SharedRingMem::new(base, odd, 8) }.unwrap_err();
        assert!(matches!(err, SharedMemError::DataMisaligned { .. }));
        // SAFETY: as above, refused before any dereference.
        let err = unsafe { SharedRingMem::new(base, base, 12) }.unwrap_err();
        assert_eq!(err, SharedMemError::BadDataSize { size: 12 });
    }
}
