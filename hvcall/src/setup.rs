//! Values for hypercall setup on x86-64 (fact sheet C.3 "Setup"): the guest OS id and the
//! hypercall MSR. Pure bit manipulation, testable on any target; the MSR accesses themselves are
//! in [`crate::arch::x86_64`].

/// `HV_X64_MSR_GUEST_OS_ID` (0x40000000): must be written non-zero before enabling the
/// hypercall page.
#[doc(alias = "HV_X64_MSR_GUEST_OS_ID")]
pub const MSR_GUEST_OS_ID: u32 = 0x4000_0000;

/// `HV_X64_MSR_HYPERCALL` (0x40000001): enable bit and hypercall page GPA.
#[doc(alias = "HV_X64_MSR_HYPERCALL")]
pub const MSR_HYPERCALL: u32 = 0x4000_0001;

/// arm64: the guest OS id register written with HvCallSetVpRegisters (fact sheet C.4).
#[doc(alias = "HV_REGISTER_GUEST_OS_ID")]
pub const REGISTER_GUEST_OS_ID: u32 = 0x0009_0002;

/// arm64: privileges and features register, same layout as CPUID 0x40000003 (fact sheet C.4).
#[doc(alias = "HV_REGISTER_PRIVILEGES_AND_FEATURES_INFO")]
pub const REGISTER_PRIVILEGES_AND_FEATURES_INFO: u32 = 0x0000_0200;

/// The SMCCC function id for a Hyper-V hypercall through `HVC #0` on arm64: fast-call bit 31 = 0
/// (yielding), SMC64 bit 30 = 1, owner 6 (vendor hypervisor) in bits 29:24, function 1
/// (fact sheet C.4).
pub const SMCCC_HV_FUNC_ID: u64 = (1 << 30) | (6 << 24) | 1;

const _: () = assert!(SMCCC_HV_FUNC_ID == 0x4600_0001);

/// A guest OS id in the open-source encoding (fact sheet C.3):
/// bit 63 = open source, 62:56 OS type, 55:48 OS id, 47:16 kernel version, 15:0 build.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct GuestOsId(pub u64);

impl GuestOsId {
    /// OS type Linux (0x01) in bits 62:56.
    pub const OS_TYPE_LINUX: u8 = 0x01;
    /// OS type FreeBSD (0x02).
    pub const OS_TYPE_FREEBSD: u8 = 0x02;

    /// Open-source encoding: `os_type` (7 bits), `os_id` (8 bits), `version` (32 bits),
    /// `build` (16 bits). Extra high bits of `os_type` are dropped.
    pub const fn open_source(os_type: u8, os_id: u8, version: u32, build: u16) -> Self {
        Self(
            (1 << 63)
                | (((os_type & 0x7F) as u64) << 56)
                | ((os_id as u64) << 48)
                | ((version as u64) << 16)
                | build as u64,
        )
    }

    /// The id Linux uses: vendor 0x8100 in bits 63:48 and `LINUX_VERSION_CODE`
    /// ((major << 16) | (minor << 8) | patch) in bits 47:16 (fact sheet C.3).
    pub const fn linux(major: u8, minor: u8, patch: u8) -> Self {
        let code = ((major as u32) << 16) | ((minor as u32) << 8) | patch as u32;
        Self::open_source(Self::OS_TYPE_LINUX, 0, code, 0)
    }

    /// The raw value.
    pub const fn into_bits(self) -> u64 {
        self.0
    }
}

/// The value of `HV_X64_MSR_HYPERCALL` (fact sheet C.3): bit 0 enable, bit 1 locked,
/// bits 11:2 RsvdP (preserve), bits 63:12 hypercall page GPA page number.
#[doc(alias = "HV_X64_MSR_HYPERCALL_CONTENTS")]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HypercallMsr(pub u64);

impl HypercallMsr {
    /// Enable, bit 0.
    pub const ENABLE: u64 = 1 << 0;
    /// Locked, bit 1.
    pub const LOCKED: u64 = 1 << 1;
    /// Reserved-preserve bits 11:2.
    pub const RSVDP_MASK: u64 = 0xFFC;
    /// Page number bits 63:12.
    pub const GPA_PFN_MASK: u64 = !0xFFF;

    /// Enable bit.
    pub const fn enabled(self) -> bool {
        self.0 & Self::ENABLE != 0
    }

    /// Locked bit.
    pub const fn locked(self) -> bool {
        self.0 & Self::LOCKED != 0
    }

    /// Hypercall page GPA (bits 63:12, low bits zero).
    pub const fn page_gpa(self) -> u64 {
        self.0 & Self::GPA_PFN_MASK
    }

    /// The value to write to enable the page at `page_gpa`: keep the reserved bits of the
    /// current value `self` (RsvdP), set enable, replace the page number. `None` if
    /// `page_gpa` is not 4 KiB aligned.
    pub const fn enable_at(self, page_gpa: u64) -> Option<Self> {
        if page_gpa & 0xFFF != 0 {
            return None;
        }
        Some(Self(
            (self.0 & (Self::RSVDP_MASK | Self::LOCKED)) | Self::ENABLE | page_gpa,
        ))
    }
}

/// Hypercall page setup failed (fact sheet C.3 step 4–5).
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The guest OS id must be non-zero.
    #[error("the guest OS id must be non-zero")]
    ZeroGuestOsId,
    /// The hypercall page GPA is not 4 KiB aligned.
    #[error("hypercall page GPA {gpa:#x} is not 4 KiB aligned")]
    MisalignedPage {
        /// The rejected GPA.
        gpa: u64,
    },
    /// The hypercall MSR did not read back enabled at the requested page (for example because
    /// no guest OS id was accepted: enabling then fails silently).
    #[error("hypercall MSR reads back {read_back:#x} after writing {written:#x}: page not enabled")]
    NotEnabled {
        /// The value written.
        written: u64,
        /// The value read back.
        read_back: u64,
    },
}

/// Check a read-back hypercall MSR value against the value written (fact sheet C.3 step 5:
/// "read back and verify").
pub const fn verify_hypercall_msr(
    written: HypercallMsr,
    read_back: HypercallMsr,
) -> Result<(), SetupError> {
    if read_back.enabled() && read_back.page_gpa() == written.page_gpa() {
        Ok(())
    } else {
        Err(SetupError::NotEnabled {
            written: written.0,
            read_back: read_back.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fact sheet C.3: Linux 6.8.0 -> 0x8100_0006_0800_0000.
    #[test]
    fn table_c3_linux_guest_os_id() {
        assert_eq!(GuestOsId::linux(6, 8, 0).0, 0x8100_0006_0800_0000);
        assert_eq!(
            GuestOsId::open_source(0x02, 0xAB, 0x1234_5678, 0x9ABC).0,
            0x82AB_1234_5678_9ABC
        );
    }

    /// Fact sheet C.3: hypercall MSR enable keeps RsvdP bits 11:2.
    #[test]
    fn table_c3_hypercall_msr() {
        let current = HypercallMsr(0x0000_0000_0000_0FF4);
        let new = current.enable_at(0x1234_5000).unwrap();
        assert_eq!(new.0, 0x1234_5FF5);
        assert!(new.enabled());
        assert_eq!(new.page_gpa(), 0x1234_5000);
        assert_eq!(current.enable_at(0x1234_5008), None);
        assert!(HypercallMsr(2).locked());
        assert_eq!(verify_hypercall_msr(new, new), Ok(()));
        assert_eq!(
            verify_hypercall_msr(new, HypercallMsr(0x1234_5000)),
            Err(SetupError::NotEnabled {
                written: new.0,
                read_back: 0x1234_5000
            })
        );
    }
}
