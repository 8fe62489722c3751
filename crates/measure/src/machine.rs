//! The machine a figure was measured on: recorded with every speed, memory and energy number.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    /// Threads the engine's kernels ran on.
    pub threads: usize,
    pub ram_bytes: u64,
    pub gpu: Option<String>,
    pub os: String,
}

impl Machine {
    pub fn detect(threads: usize) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let ram_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024)
            .unwrap_or(0);
        Self {
            cpu_model,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            threads,
            ram_bytes,
            gpu: None,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    tradeoff_engine::proc_kb_field("/proc/self/status", "VmHWM")
}

/// Package energy from Intel RAPL (powercap), in joules, summed over packages. None when the
/// machine does not expose it (VMs usually don't).
pub struct Rapl {
    zones: Vec<(std::path::PathBuf, u64)>,
}

impl Rapl {
    pub fn open() -> Option<Self> {
        let mut zones = Vec::new();
        for e in std::fs::read_dir("/sys/class/powercap").ok()?.flatten() {
            let p = e.path();
            let name = std::fs::read_to_string(p.join("name")).unwrap_or_default();
            if !name.starts_with("package") {
                continue;
            }
            let max = std::fs::read_to_string(p.join("max_energy_range_uj"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            std::fs::read_to_string(p.join("energy_uj")).ok()?;
            zones.push((p, max));
        }
        (!zones.is_empty()).then_some(Self { zones })
    }

    /// Current counters, to pass to [`Rapl::joules_since`].
    pub fn read(&self) -> Vec<u64> {
        self.zones
            .iter()
            .map(|(p, _)| {
                std::fs::read_to_string(p.join("energy_uj"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    }

    pub fn joules_since(&self, start: &[u64]) -> f64 {
        let now = self.read();
        let uj: u64 = self
            .zones
            .iter()
            .zip(start.iter().zip(&now))
            // The counter wraps at max_energy_range_uj.
            .map(|((_, max), (&a, &b))| if b >= a { b - a } else { max - a + b })
            .sum();
        uj as f64 / 1e6
    }
}

pub const ENERGY_UNAVAILABLE: &str =
    "not available on this machine (no RAPL counters under /sys/class/powercap)";
