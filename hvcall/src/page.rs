//! Page-sized, page-aligned hypercall input/output buffers (fact sheet C.5).
//!
//! Hypercall input and output lists must be 8-byte aligned and must not cross a 4 KiB page
//! boundary. [`HvPage`] is exactly one 4 KiB page with 4 KiB alignment, and every write helper
//! returns [`PageOverflow`] instead of truncating, so a call can never overrun its page.

use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The Hyper-V page size: always 4 KiB, whatever the guest page size (fact sheet C.5).
pub const HV_PAGE_SIZE: usize = 4096;

/// `log2(HV_PAGE_SIZE)`.
pub const HV_PAGE_SHIFT: u32 = 12;

/// One 4 KiB, 4 KiB-aligned hypercall input or output page.
///
/// A real backend keeps one input and one output page per CPU and knows their guest physical
/// addresses (see [`crate::HypercallBackend`]).
#[repr(C, align(4096))]
#[derive(Clone, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct HvPage(pub [u8; HV_PAGE_SIZE]);

const _: () = assert!(size_of::<HvPage>() == HV_PAGE_SIZE);
const _: () = assert!(align_of::<HvPage>() == HV_PAGE_SIZE);

/// An input did not fit in its hypercall page.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "hypercall input of {needed} bytes does not fit in the {HV_PAGE_SIZE}-byte page (at offset {offset})"
)]
pub struct PageOverflow {
    /// Byte offset where the write would have started.
    pub offset: usize,
    /// Bytes that would have been needed from `offset`.
    pub needed: usize,
}

/// A header/element layout that breaks the 8-byte alignment rule of fact sheet C.1/C.5.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The input does not fit.
    #[error(transparent)]
    Overflow(#[from] PageOverflow),
    /// Rep elements must start 8-byte aligned, so the header must be a multiple of 8 bytes.
    #[error(
        "header of {header_len} bytes is not a multiple of 8: rep elements must be 8-byte aligned"
    )]
    MisalignedHeader {
        /// Header size in bytes.
        header_len: usize,
    },
}

impl HvPage {
    /// A zero-filled page.
    pub const fn zeroed() -> Self {
        Self([0; HV_PAGE_SIZE])
    }

    /// A zero-filled page allocated directly on the heap, without a 4 KiB temporary on the
    /// stack (`Box::new(HvPage::zeroed())` may build one first — bad on a kernel stack).
    #[cfg(feature = "alloc")]
    pub fn new_boxed() -> Result<alloc::boxed::Box<Self>, zerocopy::AllocError> {
        <Self as zerocopy::FromZeros>::new_box_zeroed()
    }

    /// The page's bytes.
    pub fn bytes(&self) -> &[u8; HV_PAGE_SIZE] {
        &self.0
    }

    /// The page's bytes, mutable.
    pub fn bytes_mut(&mut self) -> &mut [u8; HV_PAGE_SIZE] {
        &mut self.0
    }

    /// Zero the whole page.
    pub fn clear(&mut self) {
        self.0 = [0; HV_PAGE_SIZE];
    }

    /// How many elements of `elem_size` bytes fit after a `header_len`-byte header.
    ///
    /// For the heat hint (8-byte header, 8-byte ranges) this is (4096 − 8) / 8 = 511
    /// (fact sheet D.4). Returns 0 for a zero element size.
    pub const fn capacity_after(header_len: usize, elem_size: usize) -> usize {
        if elem_size == 0 || header_len > HV_PAGE_SIZE {
            0
        } else {
            (HV_PAGE_SIZE - header_len) / elem_size
        }
    }

    /// Copy `bytes` to `offset`; an error (and no write) if it would not fit.
    pub fn write_bytes_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), PageOverflow> {
        let overflow = PageOverflow {
            offset,
            needed: bytes.len(),
        };
        let end = offset.checked_add(bytes.len()).ok_or(overflow)?;
        let dst = self.0.get_mut(offset..end).ok_or(overflow)?;
        dst.copy_from_slice(bytes);
        Ok(())
    }

    /// Write a value's bytes at `offset`; an error (and no write) if it would not fit.
    pub fn write_at<T: IntoBytes + Immutable + ?Sized>(
        &mut self,
        offset: usize,
        value: &T,
    ) -> Result<(), PageOverflow> {
        self.write_bytes_at(offset, value.as_bytes())
    }

    /// Read a `T` at `offset` (unaligned read), `None` if it would run past the page.
    pub fn read_at<T: FromBytes>(&self, offset: usize) -> Option<T> {
        let end = offset.checked_add(size_of::<T>())?;
        T::read_from_bytes(self.0.get(offset..end)?).ok()
    }

    /// The `index`-th little-endian qword of the page, `None` past the end.
    pub fn qword(&self, index: usize) -> Option<u64> {
        self.read_at::<u64>(index.checked_mul(8)?)
    }

    /// Serialise `header` followed by `elements` at offset 0 and return the number of bytes
    /// written.
    ///
    /// Errors (nothing is written): the header is not a multiple of 8 bytes (rep elements must
    /// be 8-byte aligned), or header + elements exceed the page. Bytes after the written part
    /// are left as they were.
    pub fn write_header_and_elements<H, E>(
        &mut self,
        header: &H,
        elements: &[E],
    ) -> Result<usize, LayoutError>
    where
        H: IntoBytes + Immutable + ?Sized,
        E: IntoBytes + Immutable,
    {
        let header = header.as_bytes();
        if header.len() % 8 != 0 {
            return Err(LayoutError::MisalignedHeader {
                header_len: header.len(),
            });
        }
        let body = elements.as_bytes();
        let total = header.len().saturating_add(body.len());
        if total > HV_PAGE_SIZE {
            return Err(PageOverflow {
                offset: 0,
                needed: total,
            }
            .into());
        }
        self.write_bytes_at(0, header)?;
        self.write_bytes_at(header.len(), body)?;
        Ok(total)
    }
}

impl Default for HvPage {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl fmt::Debug for HvPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self.0.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        write!(f, "HvPage({used} bytes up to the last non-zero byte)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "alloc")]
    #[test]
    fn boxed_page_is_zeroed_and_aligned() {
        let page = HvPage::new_boxed().unwrap();
        assert_eq!(&*page, &HvPage::zeroed());
        assert_eq!((&raw const *page).addr() % HV_PAGE_SIZE, 0);
    }

    #[test]
    fn capacity_matches_d4() {
        assert_eq!(HvPage::capacity_after(8, 8), 511);
        assert_eq!(HvPage::capacity_after(0, 8), 512);
        assert_eq!(HvPage::capacity_after(4097, 8), 0);
        assert_eq!(HvPage::capacity_after(8, 0), 0);
    }

    #[test]
    fn header_and_elements_fit_exactly_or_error() {
        let mut page = HvPage::zeroed();
        let elems = [0x1111_1111_1111_1111u64; 511];
        assert_eq!(page.write_header_and_elements(&2u64, &elems[..]), Ok(4096));
        assert_eq!(page.qword(0), Some(2));
        assert_eq!(page.qword(511), Some(0x1111_1111_1111_1111));
        assert_eq!(page.qword(512), None);

        let mut page = HvPage::zeroed();
        let too_many = [7u64; 512];
        assert_eq!(
            page.write_header_and_elements(&2u64, &too_many[..]),
            Err(LayoutError::Overflow(PageOverflow {
                offset: 0,
                needed: 4104
            }))
        );
        assert_eq!(page, HvPage::zeroed(), "nothing written on overflow");
        assert_eq!(
            page.write_header_and_elements(&[1u8, 2, 3][..], &[1u64][..]),
            Err(LayoutError::MisalignedHeader { header_len: 3 })
        );
    }

    #[test]
    fn writes_past_the_end_are_errors() {
        let mut page = HvPage::zeroed();
        assert!(page.write_at(4088, &1u64).is_ok());
        assert_eq!(
            page.write_at(4089, &1u64),
            Err(PageOverflow {
                offset: 4089,
                needed: 8
            })
        );
        assert_eq!(
            page.write_bytes_at(usize::MAX, &[1]),
            Err(PageOverflow {
                offset: usize::MAX,
                needed: 1
            })
        );
        assert_eq!(page.read_at::<u64>(4090), None);
        assert_eq!(page.read_at::<u64>(4088), Some(1));
    }
}
