//! [`vmbus::Channel`] over the kernel's VMBus channel (`vmbus_sendpacket`/`vmbus_recvpacket`).
#![expect(unsafe_code, reason = "FFI calls into the module's C glue")]

use hyperv_bindings::kernel as k;
use vmbus::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};

/// The DM device's channel, as the C glue opened it.
#[derive(Debug, Default)]
pub struct KernelChannel;

const EAGAIN: i32 = 11;
const ENOBUFS: i32 = 105;
const EMSGSIZE: i32 = 90;

impl Channel for KernelChannel {
    fn send(
        &mut self,
        payload: &[u8],
        transaction_id: u64,
        _completion_requested: bool,
    ) -> Result<SendOk, SendError> {
        let len = u32::try_from(payload.len()).map_err(|_| SendError::TooLarge {
            len: payload.len(),
            max: vmbus::DM_MAX_PAYLOAD,
        })?;
        // SAFETY: `payload` is valid for `len` bytes during the call; the kernel copies it into
        // the ring.
        let ret = unsafe { k::kglue_vmbus_send(payload.as_ptr(), len, transaction_id) };
        match ret {
            0 => Ok(SendOk {
                signal_needed: false,
            }),
            e if e == -EAGAIN => Err(SendError::Full {
                needed: vmbus::packet::PACKET_OVERHEAD + payload.len(),
            }),
            _ => Err(SendError::Closed),
        }
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<ReceivedPacket>, RecvError> {
        let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let (mut len, mut id) = (0u32, 0u64);
        // SAFETY: `buf` is writable for `cap` bytes; `len`/`id` are valid out-pointers.
        let ret = unsafe { k::kglue_vmbus_recv(buf.as_mut_ptr(), cap, &mut len, &mut id) };
        match ret {
            0 if len == 0 => Ok(None),
            0 => Ok(Some(ReceivedPacket {
                packet_type: vmbus::packet::PacketType::IN_BAND.0,
                transaction_id: id,
                completion_requested: false,
                len: len as usize,
                signal_needed: false,
            })),
            e if e == -ENOBUFS => Err(RecvError::BufferTooSmall {
                len: len as usize,
                buf: buf.len(),
            }),
            _ => Err(RecvError::Closed),
        }
    }

    fn discard(&mut self) -> Result<Option<DiscardedPacket>, RecvError> {
        let mut len = 0u32;
        // SAFETY: `len` is a valid out-pointer for the duration of the call.
        let ret = unsafe { k::kglue_vmbus_discard(&mut len) };
        match ret {
            0 if len == 0 => Ok(None),
            0 => Ok(Some(DiscardedPacket {
                len: len as usize,
                signal_needed: false,
            })),
            e if e == -EMSGSIZE => Err(RecvError::Corrupt(
                "packet larger than a page: cannot be dropped",
            )),
            _ => Err(RecvError::Closed),
        }
    }

    /// `vmbus_sendpacket` signals the host itself.
    fn signal(&mut self) {}
}
