//! The hypercall input value ("control word", fact sheet C.1), the result value (C.2) and the
//! call codes used here (C.1, D.2, E).

use core::fmt;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::status::{HvResult, HvStatus};

/// Reads `width` bits at `lo`.
const fn get_bits(raw: u64, lo: u32, width: u32) -> u64 {
    (raw >> lo) & ((1u64 << width) - 1)
}

/// Replaces `width` bits at `lo` with the low `width` bits of `value` (higher bits dropped).
const fn set_bits(raw: u64, lo: u32, width: u32, value: u64) -> u64 {
    let mask = ((1u64 << width) - 1) << lo;
    (raw & !mask) | ((value << lo) & mask)
}

/// A 16-bit hypercall call code (open enum).
///
/// Codes at or above [`HypercallCode::FIRST_EXTENDED`] (0x8001) are *extended* hypercalls,
/// which need the `EnableExtendedHypercalls` partition privilege (fact sheet D.1).
#[repr(transparent)]
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HypercallCode(pub u16);

macro_rules! call_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $tlfs:literal;)*) => {
        impl HypercallCode {
            $(
                $(#[$doc])*
                #[doc = concat!("\n\nTLFS name `", $tlfs, "`.")]
                #[doc(alias = $tlfs)]
                pub const $name: Self = Self($value);
            )*

            /// The TLFS name of a known code, `None` otherwise.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($tlfs),)*
                    _ => None,
                }
            }
        }
    };
}

call_codes! {
    /// Deposit memory into a partition's hypervisor pool (rep; root only; fact sheet E).
    DEPOSIT_MEMORY = 0x0048, "HvCallDepositMemory";
    /// Withdraw memory from a partition's hypervisor pool (rep; root only; fact sheet E).
    WITHDRAW_MEMORY = 0x0049, "HvCallWithdrawMemory";
    /// Query the hypervisor memory pool balance (root only; fact sheet E).
    GET_MEMORY_BALANCE = 0x004A, "HvCallGetMemoryBalance";
    /// Read virtual processor registers (rep; fact sheet C.4).
    GET_VP_REGISTERS = 0x0050, "HvCallGetVpRegisters";
    /// Write virtual processor registers (rep; fact sheet C.4).
    SET_VP_REGISTERS = 0x0051, "HvCallSetVpRegisters";
    /// Post a SynIC message (VMBus transport; fact sheet E).
    POST_MESSAGE = 0x005C, "HvCallPostMessage";
    /// Signal a SynIC event (VMBus transport; fact sheet E).
    SIGNAL_EVENT = 0x005D, "HvCallSignalEvent";
    /// Flush a list of guest physical address ranges (uses [`crate::GpaPageRange`]; D.5).
    FLUSH_GUEST_PHYSICAL_ADDRESS_LIST = 0x00B0, "HvCallFlushGuestPhysicalAddressList";
    /// Query extended capabilities (simple, 8-byte output; fact sheet D.3).
    #[doc(alias = "HV_EXT_CALL_QUERY_CAPABILITIES")]
    EXT_QUERY_CAPABILITIES = 0x8001, "HvExtCallQueryCapabilities";
    /// Ranges of memory the hypervisor zeroed at boot (simple; fact sheet D.2).
    #[doc(alias = "HV_EXT_CALL_GET_BOOT_ZEROED_MEMORY")]
    EXT_GET_BOOT_ZEROED_MEMORY = 0x8002, "HvExtCallGetBootZeroedMemory";
    /// Memory heat hint (issued as a *rep* call like Linux does; fact sheet D.2, D.4).
    #[doc(alias = "HV_EXT_CALL_MEMORY_HEAT_HINT")]
    EXT_MEMORY_HEAT_HINT = 0x8003, "HvExtCallMemoryHeatHint";
    /// EPF setup (not used here; fact sheet D.2).
    EXT_EPF_SETUP = 0x8004, "HvExtCallEpfSetup";
    /// Scheduler assist setup (not used here; fact sheet D.2).
    EXT_SCHEDULER_ASSIST_SETUP = 0x8005, "HvExtCallSchedulerAssistSetup";
    /// Asynchronous heat hint: undocumented, semantics **UNVERIFIED** (fact sheet D.2).
    EXT_MEMORY_HEAT_HINT_ASYNC = 0x8006, "HvExtCallMemoryHeatHintAsync";
}

impl HypercallCode {
    /// The lowest extended call code (0x8000 is reserved; fact sheet C.1, D.2).
    pub const FIRST_EXTENDED: u16 = 0x8001;

    /// Whether this is an extended hypercall (code ≥ 0x8001).
    pub const fn is_extended(self) -> bool {
        self.0 >= Self::FIRST_EXTENDED
    }
}

hv_open_enum::open_enum_fmt!(HypercallCode, "hypercall", 4);

/// The 64-bit hypercall input value ("control word"), fact sheet table C.1.
///
/// | bits | field |
/// |---|---|
/// | 15:0 | call code |
/// | 16 | fast |
/// | 26:17 | variable header size (qwords) |
/// | 30:27 | RsvdZ |
/// | 31 | is nested |
/// | 43:32 | rep count |
/// | 47:44 | RsvdZ |
/// | 59:48 | rep start index |
/// | 63:60 | RsvdZ |
///
/// The `with_*` setters keep only the field's width (higher bits of the argument are
/// dropped); the safe layer ([`crate::Hypercalls`]) validates counts before it builds a word.
#[doc(alias = "HV_HYPERCALL_INPUT")]
#[repr(transparent)]
#[derive(
    Copy, Clone, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct Control(pub u64);

impl Control {
    /// Mask of the reserved-zero bits 30:27, 47:44 and 63:60.
    pub const RSVDZ_MASK: u64 = 0x7800_0000 | 0x0000_F000_0000_0000 | 0xF000_0000_0000_0000;
    /// Largest value of the 12-bit rep count / rep start fields.
    pub const MAX_REP_COUNT: u16 = 0x0FFF;
    /// Largest value of the 10-bit variable header size field (qwords).
    pub const MAX_VARIABLE_HEADER_SIZE: u16 = 0x03FF;

    /// A control word for `code` with every other field zero (simple, memory-based call).
    pub const fn new(code: HypercallCode) -> Self {
        Self(code.0 as u64)
    }

    /// The raw 64-bit value.
    pub const fn into_bits(self) -> u64 {
        self.0
    }

    /// From a raw 64-bit value (no validation: see [`Control::reserved_bits`]).
    pub const fn from_bits(raw: u64) -> Self {
        Self(raw)
    }

    /// Call code, bits 15:0.
    pub const fn code(self) -> HypercallCode {
        HypercallCode(get_bits(self.0, 0, 16) as u16)
    }
    /// Sets the call code, bits 15:0.
    pub const fn with_code(self, code: HypercallCode) -> Self {
        Self(set_bits(self.0, 0, 16, code.0 as u64))
    }

    /// Fast (register-based) call flag, bit 16.
    pub const fn fast(self) -> bool {
        get_bits(self.0, 16, 1) != 0
    }
    /// Sets the fast flag, bit 16.
    pub const fn with_fast(self, fast: bool) -> Self {
        Self(set_bits(self.0, 16, 1, fast as u64))
    }

    /// Variable header size in qwords, bits 26:17.
    pub const fn variable_header_size(self) -> u16 {
        get_bits(self.0, 17, 10) as u16
    }
    /// Sets the variable header size (qwords, 10 bits), bits 26:17.
    pub const fn with_variable_header_size(self, qwords: u16) -> Self {
        Self(set_bits(self.0, 17, 10, qwords as u64))
    }

    /// Is-nested flag, bit 31 (ask the L0 hypervisor to handle the call).
    pub const fn nested(self) -> bool {
        get_bits(self.0, 31, 1) != 0
    }
    /// Sets the is-nested flag, bit 31.
    pub const fn with_nested(self, nested: bool) -> Self {
        Self(set_bits(self.0, 31, 1, nested as u64))
    }

    /// Rep count, bits 43:32 (0 for simple calls).
    pub const fn rep_count(self) -> u16 {
        get_bits(self.0, 32, 12) as u16
    }
    /// Sets the rep count (12 bits), bits 43:32.
    pub const fn with_rep_count(self, count: u16) -> Self {
        Self(set_bits(self.0, 32, 12, count as u64))
    }

    /// Rep start index, bits 59:48 (must be < rep count).
    pub const fn rep_start(self) -> u16 {
        get_bits(self.0, 48, 12) as u16
    }
    /// Sets the rep start index (12 bits), bits 59:48.
    pub const fn with_rep_start(self, start: u16) -> Self {
        Self(set_bits(self.0, 48, 12, start as u64))
    }

    /// The reserved-zero bits that are set (0 for a valid word).
    pub const fn reserved_bits(self) -> u64 {
        self.0 & Self::RSVDZ_MASK
    }
}

impl From<u64> for Control {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<Control> for u64 {
    fn from(value: Control) -> Self {
        value.0
    }
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("code", &self.code())
            .field("fast", &self.fast())
            .field("variable_header_size", &self.variable_header_size())
            .field("nested", &self.nested())
            .field("rep_count", &self.rep_count())
            .field("rep_start", &self.rep_start())
            .field(
                "reserved_bits",
                &format_args!("{:#x}", self.reserved_bits()),
            )
            .finish()
    }
}

/// The 64-bit hypercall result value, fact sheet table C.2.
///
/// | bits | field |
/// |---|---|
/// | 15:0 | `HV_STATUS` |
/// | 31:16 | reserved — ignore (not guaranteed zero) |
/// | 43:32 | reps completed (absolute, counted from element 0) |
/// | 63:44 | reserved — ignore |
#[doc(alias = "HV_HYPERCALL_OUTPUT")]
#[must_use]
#[repr(transparent)]
#[derive(
    Copy, Clone, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct HypercallOutput(pub u64);

impl HypercallOutput {
    /// A success result with no reps completed.
    pub const SUCCESS: Self = Self(0);

    /// The raw 64-bit value.
    pub const fn into_bits(self) -> u64 {
        self.0
    }

    /// From a raw 64-bit value.
    pub const fn from_bits(raw: u64) -> Self {
        Self(raw)
    }

    /// A result with the given status and reps completed, reserved bits zero.
    pub const fn new(status: HvStatus, reps_completed: u16) -> Self {
        Self(0)
            .with_status(status)
            .with_reps_completed(reps_completed)
    }

    /// Status, bits 15:0 (always masked to 16 bits, as C.2 requires).
    pub const fn status(self) -> HvStatus {
        HvStatus(get_bits(self.0, 0, 16) as u16)
    }
    /// Sets the status, bits 15:0.
    pub const fn with_status(self, status: HvStatus) -> Self {
        Self(set_bits(self.0, 0, 16, status.0 as u64))
    }

    /// Reserved bits 31:16 (ignored; not guaranteed zero).
    pub const fn reserved_low(self) -> u16 {
        get_bits(self.0, 16, 16) as u16
    }
    /// Sets the reserved bits 31:16 (for tests of "ignore reserved").
    pub const fn with_reserved_low(self, value: u16) -> Self {
        Self(set_bits(self.0, 16, 16, value as u64))
    }

    /// Reps completed, bits 43:32 (absolute: counts from element 0, not from rep start).
    pub const fn reps_completed(self) -> u16 {
        get_bits(self.0, 32, 12) as u16
    }
    /// Sets reps completed (12 bits), bits 43:32.
    pub const fn with_reps_completed(self, reps: u16) -> Self {
        Self(set_bits(self.0, 32, 12, reps as u64))
    }

    /// Reserved bits 63:44 (ignored).
    pub const fn reserved_high(self) -> u32 {
        get_bits(self.0, 44, 20) as u32
    }
    /// Sets the reserved bits 63:44 (20 bits).
    pub const fn with_reserved_high(self, value: u32) -> Self {
        Self(set_bits(self.0, 44, 20, value as u64))
    }

    /// `Ok(())` if the status is success, else the error.
    pub const fn result(self) -> HvResult<()> {
        self.status().result()
    }
}

impl From<u64> for HypercallOutput {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<HypercallOutput> for u64 {
    fn from(value: HypercallOutput) -> Self {
        value.0
    }
}

impl fmt::Debug for HypercallOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HypercallOutput")
            .field("status", &self.status())
            .field("reps_completed", &self.reps_completed())
            .finish()
    }
}

const _: () = assert!(size_of::<Control>() == 8);
const _: () = assert!(size_of::<HypercallOutput>() == 8);
const _: () = assert!(size_of::<HypercallCode>() == 2);

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet table C.1: every field lands on its documented mask.
    #[test]
    fn table_c1_control_field_masks() {
        let all = Control(0)
            .with_code(HypercallCode(0xFFFF))
            .with_fast(true)
            .with_variable_header_size(0x3FF)
            .with_nested(true)
            .with_rep_count(0xFFF)
            .with_rep_start(0xFFF);
        assert_eq!(
            Control(0).with_code(HypercallCode(0xFFFF)).0,
            0x0000_0000_0000_FFFF
        );
        assert_eq!(Control(0).with_fast(true).0, 0x0000_0000_0001_0000);
        assert_eq!(
            Control(0).with_variable_header_size(0x3FF).0,
            0x0000_0000_07FE_0000
        );
        assert_eq!(Control(0).with_nested(true).0, 0x0000_0000_8000_0000);
        assert_eq!(Control(0).with_rep_count(0xFFF).0, 0x0000_0FFF_0000_0000);
        assert_eq!(Control(0).with_rep_start(0xFFF).0, 0x0FFF_0000_0000_0000);
        assert_eq!(all.0 | Control::RSVDZ_MASK, u64::MAX);
        assert_eq!(all.0 & Control::RSVDZ_MASK, 0);
        assert_eq!(Control(u64::MAX).reserved_bits(), Control::RSVDZ_MASK);
        // Setters drop bits beyond the field width instead of spilling into neighbours.
        assert_eq!(Control(0).with_rep_count(0x1FFF).0, 0x0000_0FFF_0000_0000);
    }

    /// Fact sheet D.4: control word for n ranges = 0x8003 | (n << 32).
    #[test]
    fn table_d4_heat_hint_control_word() {
        let c = Control::new(HypercallCode::EXT_MEMORY_HEAT_HINT).with_rep_count(32);
        assert_eq!(c.0, 0x0000_0020_0000_8003);
        let c = c.with_rep_start(20);
        assert_eq!(c.0, 0x0014_0020_0000_8003);
        assert_eq!(c.rep_start(), 20);
        assert_eq!(c.rep_count(), 32);
        assert_eq!(c.code(), HypercallCode::EXT_MEMORY_HEAT_HINT);
        // D.3: query capabilities is a plain 0x8001.
        assert_eq!(
            Control::new(HypercallCode::EXT_QUERY_CAPABILITIES).0,
            0x8001
        );
    }

    /// Fact sheet table C.2: status 15:0, reps completed 43:32, the rest ignored.
    #[test]
    fn table_c2_result_fields() {
        let out = HypercallOutput(0xFFFF_FABC_DEAD_0005);
        assert_eq!(out.status(), HvStatus::INVALID_PARAMETER);
        assert_eq!(out.reps_completed(), 0xABC);
        assert_eq!(out.reserved_low(), 0xDEAD);
        assert_eq!(out.reserved_high(), 0xFFFFF);
        assert_eq!(
            HypercallOutput::new(HvStatus::SUCCESS, 10).0,
            0x0000_000A_0000_0000
        );
        assert_eq!(
            HypercallOutput::new(HvStatus::TIME_OUT, 0xFFF).0,
            0x0000_0FFF_0000_0078
        );
        assert_eq!(
            HypercallOutput(0).with_reserved_high(0xFFFFF).0,
            0xFFFF_F000_0000_0000
        );
        assert_eq!(
            HypercallOutput(0).with_reserved_low(0xFFFF).0,
            0x0000_0000_FFFF_0000
        );
        // Garbage in reserved bits does not turn success into failure.
        assert_eq!(HypercallOutput(0xFFFF_F000_FFFF_0000).result(), Ok(()));
        // C.2: all-ones = hypercall page not set up (Linux) -> an error, never success.
        assert!(HypercallOutput(u64::MAX).result().is_err());
    }

    #[test]
    fn extended_codes() {
        assert!(!HypercallCode(0x8000).is_extended());
        assert!(HypercallCode::EXT_QUERY_CAPABILITIES.is_extended());
        assert!(!HypercallCode::POST_MESSAGE.is_extended());
        assert_eq!(
            HypercallCode::EXT_MEMORY_HEAT_HINT.name(),
            Some("HvExtCallMemoryHeatHint")
        );
    }
}
