//! An in-memory channel pair: the smallest [`Channel`] double, with a byte budget per
//! direction so tests can make the "ring" fill up. The end-to-end tests use the simulated
//! VMBus; this is for unit tests and for stepping a driver and host without ring framing.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use vmbus::{Channel, DiscardedPacket, ReceivedPacket, RecvError, SendError, SendOk};

#[derive(Debug, Default)]
struct Queue {
    packets: VecDeque<Vec<u8>>,
    bytes: usize,
    capacity: usize,
    closed: bool,
    signals: u64,
}

/// One end of a [`pipe`].
#[derive(Debug, Clone)]
pub struct PipeEnd {
    tx: Rc<RefCell<Queue>>,
    rx: Rc<RefCell<Queue>>,
}

/// Packet overhead charged against the byte budget (VMBus descriptor + trailer).
pub const PACKET_OVERHEAD: usize = 24;

/// Creates a connected pair `(guest, host)`; each direction holds at most `capacity` bytes
/// (payload rounded up to 8 plus [`PACKET_OVERHEAD`] per packet).
pub fn pipe(capacity: usize) -> (PipeEnd, PipeEnd) {
    let a = Rc::new(RefCell::new(Queue {
        capacity,
        ..Queue::default()
    }));
    let b = Rc::new(RefCell::new(Queue {
        capacity,
        ..Queue::default()
    }));
    (
        PipeEnd {
            tx: a.clone(),
            rx: b.clone(),
        },
        PipeEnd { tx: b, rx: a },
    )
}

fn cost(len: usize) -> usize {
    len.next_multiple_of(8) + PACKET_OVERHEAD
}

impl PipeEnd {
    /// Packets waiting for this end.
    pub fn pending_in(&self) -> usize {
        self.rx.borrow().packets.len()
    }

    /// Changes the byte budget of this end's outgoing direction.
    pub fn set_capacity(&self, capacity: usize) {
        self.tx.borrow_mut().capacity = capacity;
    }

    /// Closes both directions.
    pub fn close(&self) {
        self.tx.borrow_mut().closed = true;
        self.rx.borrow_mut().closed = true;
    }

    /// Times this end signalled its peer.
    pub fn signals_sent(&self) -> u64 {
        self.tx.borrow().signals
    }
}

impl Channel for PipeEnd {
    fn send(&mut self, payload: &[u8], _id: u64, _completion: bool) -> Result<SendOk, SendError> {
        let mut q = self.tx.borrow_mut();
        if q.closed {
            return Err(SendError::Closed);
        }
        let c = cost(payload.len());
        if c > q.capacity {
            return Err(SendError::TooLarge {
                len: payload.len(),
                max: q.capacity.saturating_sub(PACKET_OVERHEAD),
            });
        }
        if q.bytes + c > q.capacity {
            return Err(SendError::Full { needed: c });
        }
        q.bytes += c;
        let was_empty = q.packets.is_empty();
        q.packets.push_back(payload.to_vec());
        Ok(SendOk {
            signal_needed: was_empty,
        })
    }

    fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<ReceivedPacket>, RecvError> {
        let mut q = self.rx.borrow_mut();
        let Some(p) = q.packets.front() else {
            return if q.closed {
                Err(RecvError::Closed)
            } else {
                Ok(None)
            };
        };
        if p.len() > buf.len() {
            return Err(RecvError::BufferTooSmall {
                len: p.len(),
                buf: buf.len(),
            });
        }
        let len = p.len();
        buf[..len].copy_from_slice(p);
        q.packets.pop_front();
        q.bytes -= cost(len);
        Ok(Some(ReceivedPacket {
            packet_type: 6,
            transaction_id: 0,
            completion_requested: false,
            len,
            signal_needed: false,
        }))
    }

    fn discard(&mut self) -> Result<Option<DiscardedPacket>, RecvError> {
        let mut q = self.rx.borrow_mut();
        let Some(p) = q.packets.pop_front() else {
            return if q.closed {
                Err(RecvError::Closed)
            } else {
                Ok(None)
            };
        };
        q.bytes -= cost(p.len());
        Ok(Some(DiscardedPacket {
            len: p.len(),
            signal_needed: false,
        }))
    }

    fn signal(&mut self) {
        self.tx.borrow_mut().signals += 1;
    }
}
