//! The page-reporting adapter: Linux's page-reporting core hands the driver batches of free
//! blocks (`kglue_block`: first pfn, order); this turns them into [`HvReporter`] calls.

use crate::ffi::Block;
use hv_reporting::{HvReporter, ReportError};
use hvcall::HypercallBackend;

/// The largest batch Linux's page-reporting core hands over (`PAGE_REPORTING_CAPACITY`).
pub const CAPACITY: usize = hyperv_bindings::kernel::HVB_PAGE_REPORTING_CAPACITY as usize;

/// Why a batch was refused before any hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// More blocks than `PAGE_REPORTING_CAPACITY`.
    TooLarge(usize),
    /// A block whose order the C glue could not derive from its length, or that is too large.
    BadOrder(u32),
    /// A block whose first pfn is not aligned to its order.
    Misaligned {
        /// First pfn.
        pfn: u64,
        /// Order.
        order: u32,
    },
}

/// Checks a batch and converts it to `(pfn, order)` pairs in `out`; returns how many.
pub fn convert(blocks: &[Block], out: &mut [(u64, u8); CAPACITY]) -> Result<usize, BatchError> {
    if blocks.len() > CAPACITY {
        return Err(BatchError::TooLarge(blocks.len()));
    }
    for (slot, b) in out.iter_mut().zip(blocks) {
        let order = u8::try_from(b.order)
            .ok()
            .filter(|&o| u32::from(o) <= hyperv_bindings::kernel::HVB_MAX_ORDER)
            .ok_or(BatchError::BadOrder(b.order))?;
        if b.pfn & ((1u64 << order) - 1) != 0 {
            return Err(BatchError::Misaligned {
                pfn: b.pfn,
                order: b.order,
            });
        }
        *slot = (b.pfn, order);
    }
    Ok(blocks.len())
}

/// Reports one batch through `reporter` and `backend`: `Ok` means Linux may mark every block
/// reported; `Err` returns the whole batch unreported.
///
/// Blocks below the reporter's order floor (raised to 9 after the host answered
/// `HV_STATUS_INVALID_PARAMETER` to smaller ranges) are not hinted but still acknowledged, so
/// Linux marks them reported and stops offering them. hv_balloon instead raises the kernel's
/// `page_reporting_order`, which Linux 6.1 does not export to modules.
pub fn report<B: HypercallBackend>(
    reporter: &mut HvReporter,
    backend: B,
    blocks: &[Block],
) -> Result<(), ReportError> {
    let mut pairs = [(0u64, 0u8); CAPACITY];
    let n = convert(blocks, &mut pairs).map_err(|e| {
        log::error!("page reporting: refusing a batch from the kernel: {e:?}");
        ReportError::BadBatch
    })?;
    let floor = reporter.order_floor();
    let mut kept = 0;
    for i in 0..n {
        if pairs[i].1 >= floor {
            pairs[kept] = pairs[i];
            kept += 1;
        }
    }
    if kept == 0 {
        return Ok(());
    }
    reporter.report_blocks(backend, &pairs[..kept])
}
