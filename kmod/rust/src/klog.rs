//! A `log` backend printing through `printk` with the module's prefix (`hv_dynmem: `).
//!
//! Messages are formatted into a fixed 256-byte buffer on the stack (longer ones are cut with
//! a `...` marker), so logging never allocates.

use core::fmt::{self, Write};
use log::{LevelFilter, Log, Metadata, Record};

/// The module's logger.
pub struct KernelLog;

static LOGGER: KernelLog = KernelLog;

/// Self-test mode: log records become indented KTAP diagnostic lines (`    # log: ...`).
static KTAP_MODE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns self-test mode on (the self-test module) or off.
pub fn set_ktap_mode(on: bool) {
    KTAP_MODE.store(on, core::sync::atomic::Ordering::Relaxed);
}

/// Installs the logger (idempotent) with `max` as the level filter.
pub fn init(max: LevelFilter) {
    // A second install fails harmlessly: the logger is already ours.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(max);
}

/// A fixed-size line buffer that truncates instead of failing.
pub struct LineBuf {
    buf: [u8; 256],
    len: usize,
    truncated: bool,
}

impl LineBuf {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
            truncated: false,
        }
    }

    /// The bytes written so far (with a `...` marker if the line was cut).
    pub fn as_bytes(&mut self) -> &[u8] {
        if self.truncated {
            let n = self.buf.len();
            self.buf[n - 3..].copy_from_slice(b"...");
            self.len = n;
        }
        &self.buf[..self.len]
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

/// Prints one formatted line at `level` (1 = error ... 5 = trace).
pub fn print(level: u32, args: fmt::Arguments<'_>) {
    let mut line = LineBuf::new();
    let _ = line.write_fmt(args);
    crate::ffi::log(level, line.as_bytes());
}

impl Log for KernelLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if KTAP_MODE.load(core::sync::atomic::Ordering::Relaxed) {
            print(3, format_args!("    # log: {}", record.args()));
        } else {
            print(record.level() as u32, *record.args());
        }
    }

    fn flush(&self) {}
}

/// Prints a KTAP line (at info level, so it reaches the console).
#[macro_export]
macro_rules! ktap {
    ($($arg:tt)*) => {
        $crate::klog::print(3, format_args!($($arg)*))
    };
}
