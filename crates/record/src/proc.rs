//! The few `/proc` figures tradeoff reads (Linux; elsewhere every reader gives None): the CPU
//! model and ISA flags (`/proc/cpuinfo`), total and available memory (`/proc/meminfo`), this
//! process's resident and peak resident memory (`/proc/self/status`), kernel release and host
//! name (`/proc/sys/kernel`).

use std::fs;

/// The value of the first `key: value` line of `text` whose key is exactly `key` (whitespace
/// around either trimmed), as /proc/cpuinfo and /proc/driver/nvidia write them.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// A `Key:   123 kB` line of `text` (/proc/meminfo, /proc/self/status), in bytes.
pub fn kb_field(text: &str, key: &str) -> Option<u64> {
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// [`kb_field`] of the file `file` (None where it cannot be read).
pub fn file_kb_field(file: &str, key: &str) -> Option<u64> {
    kb_field(&fs::read_to_string(file).ok()?, key)
}

/// The CPU's model name: `model name` (x86), else `Model` (ARM boards).
pub fn cpu_model() -> Option<String> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    field(&text, "model name")
        .or_else(|| field(&text, "Model"))
        .map(str::to_string)
}

/// The first CPU's ISA flags: `flags` (x86) or `Features` (ARM); empty where unknown.
pub fn cpu_flags() -> Vec<String> {
    let text = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    field(&text, "flags")
        .or_else(|| field(&text, "Features"))
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// `MemTotal`, in bytes.
pub fn mem_total_bytes() -> Option<u64> {
    file_kb_field("/proc/meminfo", "MemTotal")
}

/// `MemAvailable`, in bytes (None where the kernel does not say).
pub fn mem_available_bytes() -> Option<u64> {
    file_kb_field("/proc/meminfo", "MemAvailable")
}

/// Resident memory of this process now (VmRSS), in bytes.
pub fn rss_bytes() -> Option<u64> {
    file_kb_field("/proc/self/status", "VmRSS")
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    file_kb_field("/proc/self/status", "VmHWM")
}

/// `/proc/sys/kernel/<name>`, trimmed: `osrelease`, `hostname`.
pub fn kernel(name: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/sys/kernel/{name}"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_by_whole_key() {
        let status = "Name:\tcat\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(kb_field(status, "VmHWM"), Some(2 << 20));
        assert_eq!(kb_field(status, "VmRSS"), Some(1 << 20));
        assert_eq!(kb_field(status, "VmHW"), None);
        assert_eq!(kb_field(status, "Name"), None);
        let cpuinfo = "processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\nflags\t\t: fpu avx2 fma\n";
        assert_eq!(field(cpuinfo, "model name"), Some("Test CPU @ 2.0GHz"));
        assert_eq!(field(cpuinfo, "model"), None);
        assert_eq!(field(cpuinfo, "flags"), Some("fpu avx2 fma"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine() {
        assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        assert!(rss_bytes().is_some_and(|b| b > 0));
        assert!(mem_available_bytes().is_some());
        assert!(mem_total_bytes().is_some_and(|t| t >= mem_available_bytes().unwrap()));
        assert_eq!(file_kb_field("/proc/self/status", "VmHW"), None);
        assert!(kernel("osrelease").is_some_and(|r| !r.is_empty()));
    }
}
