//! Parsers of the files the agent samples. `/proc/meminfo`, `/proc/pressure/memory` and
//! `/proc/stat` go through `procfs-core` (no I/O of its own, so fixtures feed it); the cgroup
//! files (`memory.stat`, `/proc/vmstat`, MGLRU's `lru_gen`) are flat key/value or table files
//! that `procfs-core` does not cover and are parsed here.

use procfs_core::{FromBufRead, FromBufReadSI, KernelStats, Meminfo, MemoryPressure};
use std::collections::HashMap;
use std::string::{String, ToString};

/// A file that could not be parsed: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {why}")]
pub struct ParseError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub why: String,
}

fn err(file: &str, why: impl ToString) -> ParseError {
    ParseError {
        file: file.into(),
        why: why.to_string(),
    }
}

/// `MemTotal`, `MemFree`, `Cached` in bytes.
pub fn meminfo(text: &str) -> Result<(u64, u64, u64), ParseError> {
    let m = Meminfo::from_buf_read(text.as_bytes()).map_err(|e| err("/proc/meminfo", e))?;
    if m.mem_total == 0 || m.mem_free > m.mem_total {
        return Err(err(
            "/proc/meminfo",
            format!(
                "implausible MemTotal {} / MemFree {}",
                m.mem_total, m.mem_free
            ),
        ));
    }
    Ok((m.mem_total, m.mem_free, m.cached))
}

/// `some total=` (µs) and `some avg10=` (hundredths of a percent) of `/proc/pressure/memory`.
pub fn psi(text: &str) -> Result<(u64, u32), ParseError> {
    let p = MemoryPressure::from_buf_read(text.as_bytes())
        .map_err(|e| err("/proc/pressure/memory", e))?;
    let avg = p.some.avg10;
    if !(0.0..=100.0).contains(&avg) {
        return Err(err(
            "/proc/pressure/memory",
            format!("avg10={avg} out of range"),
        ));
    }
    Ok((p.some.total, (avg * 100.0).round() as u32))
}

/// `procfs-core` needs the clock tick for `/proc/stat`; Linux reports `/proc/stat` in
/// `USER_HZ`, which is 100 on every architecture the agent is built for.
struct UserHz;

/// Linux's `USER_HZ` (clock ticks per second in `/proc/stat` and `/proc/<pid>/stat`).
const USER_HZ: u64 = 100;

impl procfs_core::SystemInfoInterface for UserHz {
    fn boot_time_secs(&self) -> procfs_core::ProcResult<u64> {
        Ok(0)
    }
    fn ticks_per_second(&self) -> u64 {
        USER_HZ
    }
    fn page_size(&self) -> u64 {
        4096
    }
    fn is_little_endian(&self) -> bool {
        cfg!(target_endian = "little")
    }
}

/// CPU busy time over all CPUs (ns: all but idle and iowait) and the number of CPUs, from
/// `/proc/stat`.
pub fn cpu(text: &str) -> Result<(u64, u32), ParseError> {
    let s =
        KernelStats::from_buf_read(text.as_bytes(), &UserHz).map_err(|e| err("/proc/stat", e))?;
    let t = &s.total;
    let busy_ms = t.user_ms()
        + t.nice_ms()
        + t.system_ms()
        + t.irq_ms().unwrap_or(0)
        + t.softirq_ms().unwrap_or(0)
        + t.steal_ms().unwrap_or(0);
    let cpus = u32::try_from(s.cpu_time.len()).unwrap_or(u32::MAX).max(1);
    Ok((busy_ms.saturating_mul(1_000_000), cpus))
}

/// `/proc/self/stat`: this process's utime + stime, ns (clock ticks of `USER_HZ`).
pub fn self_cpu(text: &str) -> Result<u64, ParseError> {
    use procfs_core::FromRead;
    let s = procfs_core::process::Stat::from_read(text.as_bytes())
        .map_err(|e| err("/proc/self/stat", e))?;
    Ok(s.utime
        .saturating_add(s.stime)
        .saturating_mul(1_000_000_000 / USER_HZ))
}

/// A flat `key value` file (`memory.stat`, `/proc/vmstat`).
fn flat(file: &str, text: &str) -> Result<HashMap<String, u64>, ParseError> {
    let mut m = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_ascii_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            return Err(err(
                file,
                format!("line {}: not `key value`: {line:?}", i + 1),
            ));
        };
        let v: u64 = v
            .parse()
            .map_err(|_| err(file, format!("line {}: {k}: not a number: {v:?}", i + 1)))?;
        m.insert(k.to_string(), v);
    }
    Ok(m)
}

/// The file LRU of the root cgroup: `file`, `active_file`, `inactive_file` (bytes) and
/// `workingset_refault_file` (pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileLru {
    /// Page cache, bytes.
    pub file: u64,
    /// Active file list, bytes.
    pub active_file: u64,
    /// Inactive file list, bytes.
    pub inactive_file: u64,
    /// Refaults, pages.
    pub refault_pages: u64,
    /// `pgrefill`: pages reclaim scanned and kept, pages (0 where the file has none).
    pub kept_pages: u64,
}

fn need(file: &str, m: &HashMap<String, u64>, k: &str) -> Result<u64, ParseError> {
    m.get(k)
        .copied()
        .ok_or_else(|| err(file, format!("no `{k}`")))
}

/// The root cgroup's `memory.stat` (bytes; refaults in pages).
pub fn memory_stat(text: &str) -> Result<FileLru, ParseError> {
    const F: &str = "memory.stat";
    let m = flat(F, text)?;
    let l = FileLru {
        file: need(F, &m, "file")?,
        active_file: need(F, &m, "active_file")?,
        inactive_file: need(F, &m, "inactive_file")?,
        // Linux 5.9 split `workingset_refault` into anon and file.
        refault_pages: m
            .get("workingset_refault_file")
            .or_else(|| m.get("workingset_refault"))
            .copied()
            .unwrap_or(0),
        kept_pages: m.get("pgrefill").copied().unwrap_or(0),
    };
    if l.active_file.saturating_add(l.inactive_file) > l.file.saturating_add(l.file / 8 + (1 << 20))
    {
        return Err(err(F, "active_file + inactive_file exceed file"));
    }
    Ok(l)
}

/// The same from `/proc/vmstat` (pages), for kernels whose root cgroup has no `memory.stat`.
pub fn vmstat(text: &str) -> Result<FileLru, ParseError> {
    const F: &str = "/proc/vmstat";
    let m = flat(F, text)?;
    let a = need(F, &m, "nr_active_file")?;
    let i = need(F, &m, "nr_inactive_file")?;
    Ok(FileLru {
        file: need(F, &m, "nr_file_pages")?.max(a + i) * 4096,
        active_file: a * 4096,
        inactive_file: i * 4096,
        refault_pages: m
            .get("workingset_refault_file")
            .or_else(|| m.get("workingset_refault"))
            .copied()
            .unwrap_or(0),
        // Global: the kernel counts cgroup reclaim (memory.reclaim) only in memory.stat.
        kept_pages: m.get("pgrefill").copied().unwrap_or(0),
    })
}

/// MGLRU (`/sys/kernel/debug/lru_gen`): file bytes, summed over all nodes of the root memcg
/// (`memcg 1` or path `/`), in generations at least `min_age_ms` old.
///
/// The file is blocks of `memcg ID PATH`, `node N`, then one line per generation:
/// `GEN AGE_MS NR_ANON NR_FILE` (pages).
pub fn lru_gen_cold(text: &str, min_age_ms: u64) -> Result<u64, ParseError> {
    const F: &str = "lru_gen";
    let mut in_root = false;
    let mut seen_root = false;
    let mut cold = 0u64;
    for (i, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split_ascii_whitespace().collect();
        match w.as_slice() {
            [] => {}
            ["memcg", id, rest @ ..] => {
                in_root = *id == "1" || rest.first() == Some(&"/");
                seen_root |= in_root;
            }
            ["node", _] => {}
            [_gen, age, _anon, file] if in_root => {
                let age: u64 = age
                    .parse()
                    .map_err(|_| err(F, format!("line {}: age {age:?}", i + 1)))?;
                let file: u64 = file
                    .parse()
                    .map_err(|_| err(F, format!("line {}: nr_file {file:?}", i + 1)))?;
                if age >= min_age_ms {
                    cold = cold.saturating_add(file * 4096);
                }
            }
            [_, _, _, _] => {}
            _ => return Err(err(F, format!("line {}: unexpected {line:?}", i + 1))),
        }
    }
    if !seen_root {
        return Err(err(F, "no root memcg"));
    }
    Ok(cold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_gen_sums_old_generations_of_the_root() {
        let t = "memcg 1 /\n node 0\n 3 120000 10 100\n 4 30000 10 50\nmemcg 2 /a\n node 0\n 1 900000 0 7\n";
        assert_eq!(lru_gen_cold(t, 60_000), Ok(100 * 4096));
        assert!(lru_gen_cold("memcg 2 /a\n", 0).is_err());
        assert!(lru_gen_cold("memcg 1 /\n node 0\n 1 x 0 0\n", 0).is_err());
    }
}
