//! VMBus ring buffers, packets and the [`Channel`] seam the Dynamic Memory driver talks
//! through.
//!
//! - [`mem`]: ring memory (control page + data area) behind the small [`mem::RingMem`] trait,
//!   all access through atomics and bounds-checked copies.
//! - [`packet`]: the 16-byte packet descriptor, the 8-byte trailer, packet types and flags.
//! - [`ring`]: [`ring::OutgoingRing`] and [`ring::IncomingRing`], the Hyper-V/Linux ring
//!   layout with its signalling rules; every value read from shared memory is validated.
//! - [`channel`]: the [`Channel`] trait the driver uses.
//! - `sim` (feature `sim`): a simulated VMBus, a guest endpoint implementing [`Channel`] and a
//!   host endpoint, over two real rings in memory, with counters and fault injection.
//!
//! The only `unsafe` code is in `shared_mem`: [`mem::SharedRingMem`] turns raw pointers to
//! shared pages into atomic slices, and `shared_mem::copy` moves payloads in and out of the
//! data area in bulk (`rep movsq` on x86-64) with the same per-word atomicity as the atomic
//! word loop. See `docs/vmbus.md` for the layout.
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod channel;
pub mod mem;
pub mod packet;
pub mod ring;
mod shared_mem;
#[cfg(feature = "sim")]
pub mod sim;

pub use channel::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};
pub use shared_mem::SharedMemError;

/// Data area size of each ring of the Dynamic Memory channel: 16 KiB per direction, after the
/// 4 KiB control page (`dm-protocol.md` §0).
pub const DM_RING_DATA_SIZE: usize = 16 * 1024;

/// Largest payload the Dynamic Memory host sends in one packet (`dm-protocol.md` §0); the
/// receive buffer size a DM driver needs.
pub const DM_MAX_PAYLOAD: usize = 4096;
