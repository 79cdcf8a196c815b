//! VMBus ring buffers, packets and the [`Channel`] seam the Dynamic Memory driver talks through.
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

pub mod channel;
pub use channel::{Channel, RecvError, ReceivedPacket, SendError, SendOk};
