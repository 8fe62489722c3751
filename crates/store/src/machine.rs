//! The machine a run ran on: perf numbers are only comparable (and reusable) on the same one.

use serde::{Deserialize, Serialize};
use std::fs;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub threads: usize,
    pub ram_bytes: u64,
    pub gpu: Option<String>,
    pub os: String,
    pub hostname: String,
}

impl Machine {
    /// Reads the machine from /proc and /sys (Linux); unknown fields say "unknown".
    pub fn detect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = field(&cpuinfo, "model name")
            .or_else(|| field(&cpuinfo, "Model"))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_bytes = field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        Self {
            cpu,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_bytes,
            gpu: nvidia_gpus(),
            os: format!(
                "{} {}",
                std::env::consts::OS,
                read("/proc/sys/kernel/osrelease").unwrap_or_default()
            )
            .trim()
            .to_string(),
            hostname: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
        }
    }

    /// What perf results depend on (not the hostname: two identical boxes are one machine).
    pub fn fingerprint(&self) -> String {
        crate::sha256_json(&serde_json::json!({
            "cpu": self.cpu, "threads": self.threads, "ram_bytes": self.ram_bytes, "gpu": self.gpu,
        }))
    }
}

fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The NVIDIA driver lists each GPU under /proc without needing nvidia-smi.
fn nvidia_gpus() -> Option<String> {
    let dir = fs::read_dir("/proc/driver/nvidia/gpus").ok()?;
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("information")).ok())
        .filter_map(|info| field(&info, "Model"))
        .collect();
    names.sort();
    (!names.is_empty()).then(|| names.join(", "))
}
