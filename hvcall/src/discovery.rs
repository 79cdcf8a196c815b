//! Hypervisor discovery through CPUID (fact sheet C.3 "Setup", D.1).
//!
//! [`CpuId`] is a one-method trait so discovery is testable; `hvcall::arch::x86_64::NativeCpuId`
//! is the real one. On arm64 there is no CPUID: an adapter can answer leaf 0x40000003 from
//! `HV_REGISTER_PRIVILEGES_AND_FEATURES_INFO` (0x200), whose four 32-bit words have the same
//! layout as EAX..EDX (fact sheet C.4).

use core::fmt;

/// The four registers a CPUID leaf returns.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuIdResult {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

/// Executes CPUID (or answers it from a table).
pub trait CpuId {
    /// The registers of `leaf` (sub-leaf 0).
    fn cpuid(&self, leaf: u32) -> CpuIdResult;
}

impl<C: CpuId + ?Sized> CpuId for &C {
    fn cpuid(&self, leaf: u32) -> CpuIdResult {
        (**self).cpuid(leaf)
    }
}

/// CPUID leaf 1 (feature information; ECX bit 31 = hypervisor present).
pub const CPUID_FEATURES: u32 = 0x0000_0001;
/// ECX bit 31 of leaf 1: a hypervisor is present.
pub const CPUID_1_ECX_HYPERVISOR_PRESENT: u32 = 1 << 31;
/// Hypervisor vendor leaf: EAX = highest hypervisor leaf.
pub const HV_CPUID_VENDOR_AND_MAX: u32 = 0x4000_0000;
/// Interface leaf: EAX = interface signature.
pub const HV_CPUID_INTERFACE: u32 = 0x4000_0001;
/// Partition privileges and features leaf: EAX = privilege bits 31:0, EBX = bits 63:32.
#[doc(alias = "HYPERV_CPUID_FEATURES")]
pub const HV_CPUID_FEATURES: u32 = 0x4000_0003;
/// The Hyper-V interface signature "Hv#1" in EAX of leaf 0x40000001.
pub const HV_INTERFACE_SIGNATURE: u32 = 0x3123_7648;
/// The highest leaf must be at least this for a Hyper-V compliant interface (C.3).
pub const HV_MIN_MAX_LEAF: u32 = 0x4000_0005;

const _: () = assert!(u32::from_le_bytes(*b"Hv#1") == HV_INTERFACE_SIGNATURE);

bitflags::bitflags! {
    /// The 64-bit partition privilege mask (`HV_PARTITION_PRIVILEGE_MASK`): CPUID 0x40000003
    /// EAX (bits 31:0) and EBX (bits 63:32). Unknown bits are kept.
    #[doc(alias = "HV_PARTITION_PRIVILEGE_MASK")]
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
    pub struct PartitionPrivileges: u64 {
        /// AccessHypercallMsrs: guest OS ID and hypercall MSRs (EAX bit 5, fact sheet C.3).
        const ACCESS_HYPERCALL_MSRS = 1 << 5;
        /// AccessMemoryPool (bit 34 = EBX bit 2): deposit/withdraw memory (fact sheet E).
        const ACCESS_MEMORY_POOL = 1 << 34;
        /// EnableExtendedHypercalls (bit 52 = EBX bit 20, fact sheet D.1).
        #[doc(alias = "HV_ENABLE_EXTENDED_HYPERCALLS")]
        const ENABLE_EXTENDED_HYPERCALLS = 1 << 52;
        // Keep every other bit as reported.
        const _ = !0;
    }
}

impl PartitionPrivileges {
    /// From CPUID 0x40000003 EAX (low word) and EBX (high word).
    pub const fn from_cpuid(eax: u32, ebx: u32) -> Self {
        Self::from_bits_retain(((ebx as u64) << 32) | eax as u64)
    }

    /// Whether extended hypercalls (codes ≥ 0x8001) are allowed.
    pub const fn extended_hypercalls_allowed(self) -> bool {
        self.contains(Self::ENABLE_EXTENDED_HYPERCALLS)
    }
}

/// Why discovery found no usable Hyper-V interface.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// CPUID.1:ECX bit 31 is clear.
    #[error("no hypervisor present (CPUID.1:ECX bit 31 clear)")]
    NoHypervisor,
    /// The highest hypervisor leaf is below 0x40000005.
    #[error("hypervisor max leaf {max_leaf:#x} is below 0x40000005")]
    MaxLeafTooLow {
        /// EAX of leaf 0x40000000.
        max_leaf: u32,
    },
    /// Leaf 0x40000001 EAX is not "Hv#1".
    #[error("hypervisor interface signature {signature:#010x} is not \"Hv#1\" (0x31237648)")]
    NotHyperV {
        /// EAX of leaf 0x40000001.
        signature: u32,
    },
}

/// What discovery learnt about the Hyper-V interface.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct HyperVInfo {
    /// EAX of leaf 0x40000000.
    pub max_leaf: u32,
    /// The partition privilege mask.
    pub privileges: PartitionPrivileges,
    /// ECX of leaf 0x40000003 (extra features).
    pub features_ecx: u32,
    /// EDX of leaf 0x40000003 (misc features).
    pub features_edx: u32,
}

impl HyperVInfo {
    /// Probe: hypervisor present, max leaf ≥ 0x40000005, signature "Hv#1", then read the
    /// privileges (fact sheet C.3 steps 1–3).
    pub fn probe(cpu: &impl CpuId) -> Result<Self, DiscoveryError> {
        if !hypervisor_present(cpu) {
            return Err(DiscoveryError::NoHypervisor);
        }
        let max_leaf = cpu.cpuid(HV_CPUID_VENDOR_AND_MAX).eax;
        if max_leaf < HV_MIN_MAX_LEAF {
            return Err(DiscoveryError::MaxLeafTooLow { max_leaf });
        }
        let signature = cpu.cpuid(HV_CPUID_INTERFACE).eax;
        if signature != HV_INTERFACE_SIGNATURE {
            return Err(DiscoveryError::NotHyperV { signature });
        }
        let f = cpu.cpuid(HV_CPUID_FEATURES);
        Ok(Self {
            max_leaf,
            privileges: PartitionPrivileges::from_cpuid(f.eax, f.ebx),
            features_ecx: f.ecx,
            features_edx: f.edx,
        })
    }

    /// Whether extended hypercalls are allowed (CPUID 0x40000003 EBX bit 20, fact sheet D.1).
    pub const fn extended_hypercalls_allowed(&self) -> bool {
        self.privileges.extended_hypercalls_allowed()
    }
}

impl fmt::Debug for HyperVInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperVInfo")
            .field("max_leaf", &format_args!("{:#x}", self.max_leaf))
            .field("privileges", &format_args!("{:#x}", self.privileges.bits()))
            .field("extended_hypercalls", &self.extended_hypercalls_allowed())
            .finish()
    }
}

/// CPUID.1:ECX bit 31.
pub fn hypervisor_present(cpu: &impl CpuId) -> bool {
    cpu.cpuid(CPUID_FEATURES).ecx & CPUID_1_ECX_HYPERVISOR_PRESENT != 0
}

/// The partition privilege mask from leaf 0x40000003 (no Hyper-V check; see
/// [`HyperVInfo::probe`]).
pub fn partition_privileges(cpu: &impl CpuId) -> PartitionPrivileges {
    let f = cpu.cpuid(HV_CPUID_FEATURES);
    PartitionPrivileges::from_cpuid(f.eax, f.ebx)
}

/// Whether a Hyper-V interface is present *and* grants EnableExtendedHypercalls
/// (CPUID 0x40000003 EBX bit 20, mask 0x0010_0000; fact sheet D.1).
pub fn extended_hypercalls_allowed(cpu: &impl CpuId) -> bool {
    HyperVInfo::probe(cpu).is_ok_and(|info| info.extended_hypercalls_allowed())
}

/// A CPUID answered from a fixed table: the Hyper-V leaves of a simulated partition.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FixedCpuId {
    /// Leaf 1.
    pub leaf_1: CpuIdResult,
    /// Leaf 0x40000000.
    pub leaf_4000_0000: CpuIdResult,
    /// Leaf 0x40000001.
    pub leaf_4000_0001: CpuIdResult,
    /// Leaf 0x40000003.
    pub leaf_4000_0003: CpuIdResult,
}

impl FixedCpuId {
    /// A Hyper-V partition with the given privileges (max leaf 0x4000000A, "Hv#1").
    pub const fn hyperv(privileges: PartitionPrivileges) -> Self {
        let bits = privileges.bits();
        Self {
            leaf_1: CpuIdResult {
                eax: 0,
                ebx: 0,
                ecx: CPUID_1_ECX_HYPERVISOR_PRESENT,
                edx: 0,
            },
            // "Microsoft Hv" vendor id in EBX/ECX/EDX.
            leaf_4000_0000: CpuIdResult {
                eax: 0x4000_000A,
                ebx: u32::from_le_bytes(*b"Micr"),
                ecx: u32::from_le_bytes(*b"osof"),
                edx: u32::from_le_bytes(*b"t Hv"),
            },
            leaf_4000_0001: CpuIdResult {
                eax: HV_INTERFACE_SIGNATURE,
                ebx: 0,
                ecx: 0,
                edx: 0,
            },
            leaf_4000_0003: CpuIdResult {
                eax: bits as u32,
                ebx: (bits >> 32) as u32,
                ecx: 0,
                edx: 0,
            },
        }
    }

    /// Bare metal: no hypervisor bit, no hypervisor leaves.
    pub const fn bare_metal() -> Self {
        let zero = CpuIdResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        };
        Self {
            leaf_1: zero,
            leaf_4000_0000: zero,
            leaf_4000_0001: zero,
            leaf_4000_0003: zero,
        }
    }
}

impl CpuId for FixedCpuId {
    fn cpuid(&self, leaf: u32) -> CpuIdResult {
        match leaf {
            CPUID_FEATURES => self.leaf_1,
            HV_CPUID_VENDOR_AND_MAX => self.leaf_4000_0000,
            HV_CPUID_INTERFACE => self.leaf_4000_0001,
            HV_CPUID_FEATURES => self.leaf_4000_0003,
            _ => CpuIdResult::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_hypercalls_bit_is_ebx_bit_20() {
        let p = PartitionPrivileges::from_cpuid(0, 0x0010_0000);
        assert!(p.extended_hypercalls_allowed());
        assert_eq!(p.bits(), 1 << 52);
        assert!(
            !PartitionPrivileges::from_cpuid(0xFFFF_FFFF, 0xFFEF_FFFF)
                .extended_hypercalls_allowed()
        );
    }

    #[test]
    fn probe_hyperv() {
        let cpu = FixedCpuId::hyperv(
            PartitionPrivileges::ENABLE_EXTENDED_HYPERCALLS
                | PartitionPrivileges::ACCESS_HYPERCALL_MSRS,
        );
        let info = HyperVInfo::probe(&cpu).unwrap();
        assert!(info.extended_hypercalls_allowed());
        assert!(
            info.privileges
                .contains(PartitionPrivileges::ACCESS_HYPERCALL_MSRS)
        );
        assert_eq!(cpu.leaf_4000_0003.ebx, 0x0010_0000);
        assert_eq!(cpu.leaf_4000_0003.eax, 1 << 5);
        assert!(extended_hypercalls_allowed(&cpu));
    }

    #[test]
    fn probe_failures() {
        assert_eq!(
            HyperVInfo::probe(&FixedCpuId::bare_metal()),
            Err(DiscoveryError::NoHypervisor)
        );
        let mut cpu = FixedCpuId::hyperv(PartitionPrivileges::all());
        cpu.leaf_4000_0001.eax = u32::from_le_bytes(*b"KVMK");
        assert_eq!(
            HyperVInfo::probe(&cpu),
            Err(DiscoveryError::NotHyperV {
                signature: cpu.leaf_4000_0001.eax
            })
        );
        assert!(!extended_hypercalls_allowed(&cpu));
        let mut cpu = FixedCpuId::hyperv(PartitionPrivileges::all());
        cpu.leaf_4000_0000.eax = 0x4000_0004;
        assert_eq!(
            HyperVInfo::probe(&cpu),
            Err(DiscoveryError::MaxLeafTooLow {
                max_leaf: 0x4000_0004
            })
        );
    }
}
