//! Hypercall status codes (`HV_STATUS`, fact sheet C.7) and the `HvResult` error type.
//!
//! [`HvStatus`] is an *open* enum: any 16-bit value read from the hypervisor is representable,
//! known values have associated constants and a readable [`Display`](core::fmt::Display).
//! [`HvError`] is a status that is known not to be success (niche-optimised like OpenVMM's
//! `hvdef::HvError`, so `HvResult<()>` is two bytes).

use core::fmt;
use core::num::NonZeroU16;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A 16-bit Hyper-V hypercall status (`HV_STATUS`, fact sheet C.7).
///
/// Open enum: unknown values are kept as they are and print as `unknown status 0x1234`.
/// Known values print as `HV_STATUS_INVALID_PARAMETER (0x0005)`.
#[doc(alias = "HV_STATUS")]
#[repr(transparent)]
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct HvStatus(pub u16);

/// A hypercall status that is not [`HvStatus::SUCCESS`].
///
/// Built with [`HvError::new`] or by [`HvStatus::result`]. Has the same constants as
/// [`HvStatus`] (without `SUCCESS`) so callers can match on it:
/// `Err(e) if e == HvError::INVALID_PARAMETER`.
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HvError(NonZeroU16);

/// `Result` with a Hyper-V status error.
pub type HvResult<T> = Result<T, HvError>;

macro_rules! hv_status_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $tlfs:literal;)*) => {
        impl HvStatus {
            /// `HV_STATUS_SUCCESS` (0x0000): the operation succeeded.
            #[doc(alias = "HV_STATUS_SUCCESS")]
            pub const SUCCESS: Self = Self(0);
            $(
                $(#[$doc])*
                #[doc = concat!("\n\nTLFS name `", $tlfs, "` (fact sheet C.7).")]
                #[doc(alias = $tlfs)]
                pub const $name: Self = Self($value);
            )*

            /// The TLFS name of a known status (`"HV_STATUS_INVALID_PARAMETER"`), `None` for
            /// values the fact sheet does not list.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    0 => Some("HV_STATUS_SUCCESS"),
                    $($value => Some($tlfs),)*
                    _ => None,
                }
            }

            /// Every status value documented in fact sheet table C.7, success first.
            pub const ALL_DOCUMENTED: &'static [HvStatus] = &[Self::SUCCESS, $(Self::$name,)*];
        }

        impl HvError {
            $(
                $(#[$doc])*
                #[doc = concat!("\n\nTLFS name `", $tlfs, "` (fact sheet C.7).")]
                #[doc(alias = $tlfs)]
                pub const $name: Self = match NonZeroU16::new($value) {
                    Some(v) => Self(v),
                    None => panic!("status constant is zero"),
                };
            )*
        }
    };
}

hv_status_codes! {
    /// The hypercall code is not recognised.
    INVALID_HYPERCALL_CODE = 0x0002, "HV_STATUS_INVALID_HYPERCALL_CODE";
    /// The control word or input is malformed (reserved bits set, bad rep count or start, ...).
    INVALID_HYPERCALL_INPUT = 0x0003, "HV_STATUS_INVALID_HYPERCALL_INPUT";
    /// A GPA is misaligned, a list spans a page, or a GPA lies outside the GPA space.
    INVALID_ALIGNMENT = 0x0004, "HV_STATUS_INVALID_ALIGNMENT";
    /// A parameter is invalid (older hosts: sub-2 MiB heat-hint ranges).
    INVALID_PARAMETER = 0x0005, "HV_STATUS_INVALID_PARAMETER";
    /// The caller lacks the privilege.
    ACCESS_DENIED = 0x0006, "HV_STATUS_ACCESS_DENIED";
    /// The partition is in a state that does not allow the operation.
    INVALID_PARTITION_STATE = 0x0007, "HV_STATUS_INVALID_PARTITION_STATE";
    /// The operation is denied.
    OPERATION_DENIED = 0x0008, "HV_STATUS_OPERATION_DENIED";
    /// Unknown property.
    UNKNOWN_PROPERTY = 0x0009, "HV_STATUS_UNKNOWN_PROPERTY";
    /// Property value out of range.
    PROPERTY_VALUE_OUT_OF_RANGE = 0x000A, "HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE";
    /// Not enough memory.
    INSUFFICIENT_MEMORY = 0x000B, "HV_STATUS_INSUFFICIENT_MEMORY";
    /// Partition nesting too deep.
    PARTITION_TOO_DEEP = 0x000C, "HV_STATUS_PARTITION_TOO_DEEP";
    /// Invalid partition id.
    INVALID_PARTITION_ID = 0x000D, "HV_STATUS_INVALID_PARTITION_ID";
    /// Invalid virtual processor index.
    INVALID_VP_INDEX = 0x000E, "HV_STATUS_INVALID_VP_INDEX";
    /// Not found.
    NOT_FOUND = 0x0010, "HV_STATUS_NOT_FOUND";
    /// Invalid port id.
    INVALID_PORT_ID = 0x0011, "HV_STATUS_INVALID_PORT_ID";
    /// Invalid connection id.
    INVALID_CONNECTION_ID = 0x0012, "HV_STATUS_INVALID_CONNECTION_ID";
    /// Not enough buffers.
    INSUFFICIENT_BUFFERS = 0x0013, "HV_STATUS_INSUFFICIENT_BUFFERS";
    /// Not acknowledged.
    NOT_ACKNOWLEDGED = 0x0014, "HV_STATUS_NOT_ACKNOWLEDGED";
    /// Invalid virtual processor state.
    INVALID_VP_STATE = 0x0015, "HV_STATUS_INVALID_VP_STATE";
    /// Acknowledged.
    ACKNOWLEDGED = 0x0016, "HV_STATUS_ACKNOWLEDGED";
    /// Invalid save/restore state.
    INVALID_SAVE_RESTORE_STATE = 0x0017, "HV_STATUS_INVALID_SAVE_RESTORE_STATE";
    /// Invalid SynIC state.
    INVALID_SYNIC_STATE = 0x0018, "HV_STATUS_INVALID_SYNIC_STATE";
    /// Object in use.
    OBJECT_IN_USE = 0x0019, "HV_STATUS_OBJECT_IN_USE";
    /// Invalid proximity domain information.
    INVALID_PROXIMITY_DOMAIN_INFO = 0x001A, "HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO";
    /// No data.
    NO_DATA = 0x001B, "HV_STATUS_NO_DATA";
    /// Inactive.
    INACTIVE = 0x001C, "HV_STATUS_INACTIVE";
    /// No resources.
    NO_RESOURCES = 0x001D, "HV_STATUS_NO_RESOURCES";
    /// Feature unavailable.
    FEATURE_UNAVAILABLE = 0x001E, "HV_STATUS_FEATURE_UNAVAILABLE";
    /// Processor feature not supported.
    PROCESSOR_FEATURE_NOT_SUPPORTED = 0x0020, "HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED";
    /// Invalid logical processor index.
    INVALID_LP_INDEX = 0x0041, "HV_STATUS_INVALID_LP_INDEX";
    /// Invalid register value.
    INVALID_REGISTER_VALUE = 0x0050, "HV_STATUS_INVALID_REGISTER_VALUE";
    /// Operation failed.
    OPERATION_FAILED = 0x0071, "HV_STATUS_OPERATION_FAILED";
    /// Timed out (decimal 120).
    TIME_OUT = 0x0078, "HV_STATUS_TIME_OUT";
    /// Call pending.
    CALL_PENDING = 0x0079, "HV_STATUS_CALL_PENDING";
    /// VTL already enabled (decimal 134).
    VTL_ALREADY_ENABLED = 0x0086, "HV_STATUS_VTL_ALREADY_ENABLED";
    /// Unsuccessful. Listed in a single header only: **UNVERIFIED** (fact sheet C.7).
    UNSUCCESSFUL = 0x1001, "HV_STATUS_UNSUCCESSFUL";
}

impl HvStatus {
    /// Whether this is [`HvStatus::SUCCESS`].
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Whether this is not [`HvStatus::SUCCESS`].
    pub const fn is_err(self) -> bool {
        self.0 != 0
    }

    /// `Ok(())` for success, otherwise the error.
    pub const fn result(self) -> HvResult<()> {
        match NonZeroU16::new(self.0) {
            None => Ok(()),
            Some(v) => Err(HvError(v)),
        }
    }
}

impl From<u16> for HvStatus {
    fn from(value: u16) -> Self {
        Self(value)
    }
}

impl From<HvStatus> for u16 {
    fn from(value: HvStatus) -> Self {
        value.0
    }
}

hv_open_enum::open_enum_fmt!(HvStatus, "status", 4);

impl HvError {
    /// The error for `status`, `None` if it is success.
    pub const fn new(status: HvStatus) -> Option<Self> {
        match NonZeroU16::new(status.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The status this error carries (never success).
    pub const fn status(self) -> HvStatus {
        HvStatus(self.0.get())
    }
}

impl From<HvError> for HvStatus {
    fn from(value: HvError) -> Self {
        value.status()
    }
}

impl PartialEq<HvStatus> for HvError {
    fn eq(&self, other: &HvStatus) -> bool {
        self.status() == *other
    }
}

impl PartialEq<HvError> for HvStatus {
    fn eq(&self, other: &HvError) -> bool {
        *self == other.status()
    }
}

impl fmt::Display for HvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.status(), f)
    }
}

impl fmt::Debug for HvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status().name() {
            Some(name) => write!(f, "HvError({name})"),
            None => write!(f, "HvError(0x{:04X})", self.0.get()),
        }
    }
}

impl core::error::Error for HvError {}

const _: () = assert!(size_of::<HvStatus>() == 2);
const _: () = assert!(size_of::<HvResult<()>>() == 2);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    /// Fact sheet table C.7, value by value.
    #[test]
    fn table_c7_values() {
        let expected: &[(u16, &str)] = &[
            (0x0000, "HV_STATUS_SUCCESS"),
            (0x0002, "HV_STATUS_INVALID_HYPERCALL_CODE"),
            (0x0003, "HV_STATUS_INVALID_HYPERCALL_INPUT"),
            (0x0004, "HV_STATUS_INVALID_ALIGNMENT"),
            (0x0005, "HV_STATUS_INVALID_PARAMETER"),
            (0x0006, "HV_STATUS_ACCESS_DENIED"),
            (0x0007, "HV_STATUS_INVALID_PARTITION_STATE"),
            (0x0008, "HV_STATUS_OPERATION_DENIED"),
            (0x0009, "HV_STATUS_UNKNOWN_PROPERTY"),
            (0x000A, "HV_STATUS_PROPERTY_VALUE_OUT_OF_RANGE"),
            (0x000B, "HV_STATUS_INSUFFICIENT_MEMORY"),
            (0x000C, "HV_STATUS_PARTITION_TOO_DEEP"),
            (0x000D, "HV_STATUS_INVALID_PARTITION_ID"),
            (0x000E, "HV_STATUS_INVALID_VP_INDEX"),
            (0x0010, "HV_STATUS_NOT_FOUND"),
            (0x0011, "HV_STATUS_INVALID_PORT_ID"),
            (0x0012, "HV_STATUS_INVALID_CONNECTION_ID"),
            (0x0013, "HV_STATUS_INSUFFICIENT_BUFFERS"),
            (0x0014, "HV_STATUS_NOT_ACKNOWLEDGED"),
            (0x0015, "HV_STATUS_INVALID_VP_STATE"),
            (0x0016, "HV_STATUS_ACKNOWLEDGED"),
            (0x0017, "HV_STATUS_INVALID_SAVE_RESTORE_STATE"),
            (0x0018, "HV_STATUS_INVALID_SYNIC_STATE"),
            (0x0019, "HV_STATUS_OBJECT_IN_USE"),
            (0x001A, "HV_STATUS_INVALID_PROXIMITY_DOMAIN_INFO"),
            (0x001B, "HV_STATUS_NO_DATA"),
            (0x001C, "HV_STATUS_INACTIVE"),
            (0x001D, "HV_STATUS_NO_RESOURCES"),
            (0x001E, "HV_STATUS_FEATURE_UNAVAILABLE"),
            (0x0020, "HV_STATUS_PROCESSOR_FEATURE_NOT_SUPPORTED"),
            (0x0041, "HV_STATUS_INVALID_LP_INDEX"),
            (0x0050, "HV_STATUS_INVALID_REGISTER_VALUE"),
            (0x0071, "HV_STATUS_OPERATION_FAILED"),
            (0x0078, "HV_STATUS_TIME_OUT"),
            (0x0079, "HV_STATUS_CALL_PENDING"),
            (0x0086, "HV_STATUS_VTL_ALREADY_ENABLED"),
            (0x1001, "HV_STATUS_UNSUCCESSFUL"),
        ];
        assert_eq!(HvStatus::ALL_DOCUMENTED.len(), expected.len());
        for (status, (value, name)) in HvStatus::ALL_DOCUMENTED.iter().zip(expected) {
            assert_eq!(status.0, *value);
            assert_eq!(status.name(), Some(*name));
        }
        // 0x0001 and 0x000F are reserved (C.7).
        assert_eq!(HvStatus(0x0001).name(), None);
        assert_eq!(HvStatus(0x000F).name(), None);
    }

    #[test]
    fn display_known_and_unknown() {
        assert_eq!(
            format!("{}", HvStatus::INVALID_PARAMETER),
            "HV_STATUS_INVALID_PARAMETER (0x0005)"
        );
        assert_eq!(format!("{}", HvStatus(0x1234)), "unknown status 0x1234");
        assert_eq!(format!("{}", HvStatus(0xFFFF)), "unknown status 0xFFFF");
        assert_eq!(
            format!("{}", HvError::TIME_OUT),
            "HV_STATUS_TIME_OUT (0x0078)"
        );
        assert_eq!(
            format!("{:?}", HvError::ACCESS_DENIED),
            "HvError(HV_STATUS_ACCESS_DENIED)"
        );
        assert_eq!(format!("{:?}", HvStatus(0x42)), "HvStatus(0x0042)");
        assert_eq!(
            format!("{:?}", HvStatus::INVALID_PARAMETER),
            "HV_STATUS_INVALID_PARAMETER"
        );
    }

    #[test]
    fn result_and_error_roundtrip() {
        assert_eq!(HvStatus::SUCCESS.result(), Ok(()));
        assert_eq!(HvStatus(5).result(), Err(HvError::INVALID_PARAMETER));
        assert_eq!(HvError::new(HvStatus::SUCCESS), None);
        let e = HvError::new(HvStatus(0x1234)).unwrap();
        assert_eq!(e.status(), HvStatus(0x1234));
        assert!(e == HvStatus(0x1234));
        assert!(HvStatus::INVALID_ALIGNMENT.is_err());
        assert!(HvStatus::SUCCESS.is_ok());
    }
}
