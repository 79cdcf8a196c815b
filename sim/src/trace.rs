//! `--trace-out`: every VMBus packet and every hypercall of a run as a JSON line, and the run's
//! trace hash (FNV-1a over the same records plus the time series), which the determinism tests
//! compare.
//!
//! A line: `{"t_ns":…,"kind":"hypercall"|"vmbus","direction":…,"hex":…,"decoded":{…}}`.
//! Hypercalls carry the control value and the used part of the input page (for a heat hint:
//! the 8-byte header and one 8-byte range per rep); VMBus lines carry the whole DM message.

use hvcall::{Control, GpaPageRange, HvPage, HypercallBackend, HypercallCode, HypercallOutput};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::prelude::rust_2024::*;
use std::rc::Rc;
use std::string::String;
use std::vec::Vec;

/// 64-bit FNV-1a.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Mixes `bytes` in.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }

    /// Mixes a number in.
    pub fn u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The shared trace log: simulated time, the lines (if kept) and the running hash.
#[derive(Debug, Default)]
pub struct TraceLog {
    /// Current simulated time, ns (the engine keeps it up to date).
    pub now_ns: u64,
    /// Keep the JSON lines (only for `--trace-out`).
    pub keep_lines: bool,
    /// The JSON lines.
    pub lines: Vec<String>,
    /// Hash over every record.
    pub hash: Fnv,
    /// Hypercalls seen.
    pub hypercalls: u64,
    /// Heat-hint ranges seen.
    pub hint_ranges: u64,
    /// Packets guest → host.
    pub to_host: u64,
    /// Packets host → guest.
    pub to_guest: u64,
    /// Times of the heat-hint hypercalls, ns.
    pub hint_times: Vec<u64>,
}

/// A shared handle on the trace log.
pub type SharedLog = Rc<RefCell<TraceLog>>;

impl TraceLog {
    /// Records one event; `decoded` is only built when the lines are kept.
    pub fn record(
        &mut self,
        kind: &str,
        direction: &str,
        raw: &[u8],
        decoded: impl FnOnce() -> Value,
    ) {
        self.hash.u64(self.now_ns);
        self.hash.write(kind.as_bytes());
        self.hash.write(direction.as_bytes());
        self.hash.write(raw);
        if self.keep_lines {
            let line = json!({
                "t_ns": self.now_ns,
                "kind": kind,
                "direction": direction,
                "hex": hex(raw),
                "decoded": decoded(),
            });
            self.lines.push(line.to_string());
        }
    }
}

/// The decoded fields of a DM message (the `decode` subcommand's JSON), or the parse error.
pub fn decode_dm(bytes: &[u8]) -> Value {
    match hv_dynmem::protocol::parse(bytes) {
        Ok(m) => hv_dynmem::protocol::json::to_value(&m),
        Err(e) => json!({ "error": std::string::ToString::to_string(&e) }),
    }
}

/// A VMBus channel (the guest's end) that records every packet it sends and receives.
pub struct RecordingChannel<C> {
    inner: C,
    log: SharedLog,
}

impl<C> RecordingChannel<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, log: SharedLog) -> Self {
        Self { inner, log }
    }
    /// The wrapped channel.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: vmbus::Channel> vmbus::Channel for RecordingChannel<C> {
    fn send(
        &mut self,
        payload: &[u8],
        transaction_id: u64,
        completion_requested: bool,
    ) -> Result<vmbus::SendOk, vmbus::SendError> {
        let r = self
            .inner
            .send(payload, transaction_id, completion_requested);
        if r.is_ok() {
            let mut log = self.log.borrow_mut();
            log.to_host += 1;
            log.record("vmbus", "guest->host", payload, || decode_dm(payload));
        }
        r
    }

    fn try_recv(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<vmbus::ReceivedPacket>, vmbus::RecvError> {
        let r = self.inner.try_recv(buf);
        if let Ok(Some(p)) = &r {
            let bytes = buf.get(..p.len).unwrap_or(&[]);
            let mut log = self.log.borrow_mut();
            log.to_guest += 1;
            log.record("vmbus", "host->guest", bytes, || decode_dm(bytes));
        }
        r
    }

    fn discard(&mut self) -> Result<Option<vmbus::DiscardedPacket>, vmbus::RecvError> {
        let r = self.inner.discard();
        if r.as_ref().is_ok_and(Option::is_some) {
            self.log.borrow_mut().to_guest += 1;
        }
        r
    }

    fn signal(&mut self) {
        self.inner.signal();
    }
}

fn code_name(code: HypercallCode) -> String {
    code.name()
        .map_or_else(|| std::format!("{:#06x}", code.0), String::from)
}

/// A hypercall backend that records every call into a [`TraceLog`] and forwards it.
pub struct Recording<B> {
    inner: B,
    log: SharedLog,
}

impl<B> Recording<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, log: SharedLog) -> Self {
        Self { inner, log }
    }
    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }
    /// The wrapped backend, mutably.
    pub fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: HypercallBackend> HypercallBackend for Recording<B> {
    fn input_page(&mut self) -> &mut HvPage {
        self.inner.input_page()
    }

    fn output_page(&self) -> &HvPage {
        self.inner.output_page()
    }

    fn call(&mut self, control: Control) -> HypercallOutput {
        let code = control.code();
        let reps = usize::from(control.rep_count());
        let used = if code == HypercallCode::EXT_MEMORY_HEAT_HINT {
            8 + 8 * reps
        } else {
            0
        };
        let page = self.inner.input_page();
        let input: Vec<u8> = page.bytes().get(..used.min(4096)).unwrap_or(&[]).to_vec();
        let out = self.inner.call(control);
        let mut raw = control.into_bits().to_le_bytes().to_vec();
        raw.extend_from_slice(&input);
        let is_hint = code == HypercallCode::EXT_MEMORY_HEAT_HINT;
        let start = usize::from(control.rep_start());
        let decoded = || {
            let mut d = json!({
                "call": code_name(code),
                "code": code.0,
                "rep_count": control.rep_count(),
                "rep_start": control.rep_start(),
                "status": out.status().0,
                "reps_completed": out.reps_completed(),
            });
            if is_hint {
                let header = input
                    .get(..8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                let ranges: Vec<Value> = input
                    .get(8..)
                    .unwrap_or(&[])
                    .chunks_exact(8)
                    .skip(start)
                    .map(|c| {
                        let r = GpaPageRange::from_bits(u64::from_le_bytes(
                            c.try_into().unwrap_or([0; 8]),
                        ));
                        match r.decode() {
                            Ok((pfn, pages)) => {
                                json!({"first_pfn": pfn, "pages": pages, "large": r.largepage()})
                            }
                            Err(_) => json!({"invalid": std::format!("{:#x}", r.into_bits())}),
                        }
                    })
                    .collect();
                if let Some(o) = d.as_object_mut() {
                    o.insert("heat_type".into(), json!(header & 3));
                    o.insert("ranges".into(), Value::Array(ranges));
                }
            }
            d
        };
        let mut log = self.log.borrow_mut();
        log.hypercalls += 1;
        if is_hint {
            log.hint_ranges += reps.saturating_sub(start) as u64;
            let t = log.now_ns;
            log.hint_times.push(t);
        }
        log.record("hypercall", "guest->host", &raw, decoded);
        out
    }
}
