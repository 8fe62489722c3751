//! The machine a run ran on, recorded with every run and every speed, memory and energy
//! figure: perf numbers are only comparable (and reusable) on the same one.

use crate::proc;
use serde::{Deserialize, Serialize};

/// CPU extensions the kernels and llama.cpp choose code paths by (x86 `flags`, ARM `Features`).
const ISA: [&str; 19] = [
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "asimd",
    "asimddp",
    "asimdhp",
    "i8mm",
    "sve",
    "sve2",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Machine {
    /// CPU model (`model name` in /proc/cpuinfo), else the architecture.
    pub cpu: String,
    /// Hardware threads this process may run on (available parallelism).
    pub threads: usize,
    pub ram_bytes: u64,
    /// GPUs the NVIDIA driver lists, comma-separated.
    pub gpu: Option<String>,
    /// OS and kernel release, e.g. "linux 6.1.0-18-amd64".
    pub os: String,
    pub hostname: String,
    /// CPU architecture, e.g. "x86_64" (empty in records from before it was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// The CPU's ISA extensions among those code paths depend on (`avx2`, `avx512_vnni`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub isa: Vec<String>,
}

impl Machine {
    /// Reads this machine from /proc (Linux); unknown figures are 0, the CPU the architecture.
    pub fn detect() -> Self {
        let release = proc::kernel("osrelease").unwrap_or_default();
        Self {
            cpu: proc::cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_bytes: proc::mem_total_bytes().unwrap_or(0),
            gpu: nvidia_gpus(),
            os: format!("{} {release}", std::env::consts::OS)
                .trim()
                .to_string(),
            hostname: proc::kernel("hostname").unwrap_or_else(|| "unknown".into()),
            arch: std::env::consts::ARCH.to_string(),
            isa: proc::cpu_flags()
                .into_iter()
                .filter(|f| ISA.contains(&f.as_str()))
                .collect(),
        }
    }

    /// What perf results depend on, to hash into a fingerprint: CPU, threads, memory and GPU
    /// (not the hostname: two identical boxes are one machine).
    pub fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "cpu": self.cpu, "threads": self.threads, "ram_bytes": self.ram_bytes, "gpu": self.gpu,
        })
    }
}

/// What the driver lists under /proc, without needing nvidia-smi.
fn nvidia_gpus() -> Option<String> {
    let dir = std::fs::read_dir("/proc/driver/nvidia/gpus").ok()?;
    let mut names: Vec<String> = dir
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("information")).ok())
        .filter_map(|info| proc::field(&info, "Model").map(str::to_string))
        .collect();
    names.sort();
    (!names.is_empty()).then(|| names.join(", "))
}

/// Every shape a machine was stored in: the run store's (`cpu`, `threads` = hardware threads,
/// `hostname`) and perf records' from before the two were one (`cpu_model`, `cores` =
/// hardware threads, `threads` = the engine's threads, no hostname).
#[derive(Deserialize)]
struct Stored {
    #[serde(alias = "cpu_model")]
    cpu: String,
    threads: usize,
    #[serde(default)]
    cores: Option<usize>,
    ram_bytes: u64,
    #[serde(default)]
    gpu: Option<String>,
    os: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    arch: String,
    #[serde(default)]
    isa: Vec<String>,
}

impl From<Stored> for Machine {
    fn from(s: Stored) -> Self {
        Self {
            cpu: s.cpu,
            threads: s.cores.unwrap_or(s.threads),
            ram_bytes: s.ram_bytes,
            gpu: s.gpu,
            os: s.os,
            hostname: s.hostname,
            arch: s.arch,
            isa: s.isa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_this_machine() {
        let m = Machine::detect();
        assert!(!m.cpu.is_empty() && m.threads >= 1 && !m.hostname.is_empty());
        assert_eq!(m.arch, std::env::consts::ARCH);
        assert!(m.os.starts_with(std::env::consts::OS));
        #[cfg(target_os = "linux")]
        assert!(m.ram_bytes > 0);
        let back: Machine = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn reads_both_stored_shapes() {
        // The run store's machine (as `runs --json` wrote it).
        let run: Machine = serde_json::from_str(
            r#"{"cpu":"Test CPU","threads":8,"ram_bytes":1024,"gpu":null,"os":"linux 6.1.0",
                "hostname":"box"}"#,
        )
        .unwrap();
        assert_eq!(
            run,
            Machine {
                cpu: "Test CPU".into(),
                threads: 8,
                ram_bytes: 1024,
                os: "linux 6.1.0".into(),
                hostname: "box".into(),
                ..Machine::default()
            }
        );
        // A perf record's machine from before: hardware threads were `cores`.
        let perf: Machine = serde_json::from_str(
            r#"{"cpu_model":"Test CPU","cores":8,"threads":2,"ram_bytes":1024,"gpu":null,
                "os":"linux x86_64"}"#,
        )
        .unwrap();
        assert_eq!((perf.cpu.as_str(), perf.threads), ("Test CPU", 8));
        assert_eq!(perf.identity(), run.identity());
        // The fingerprint's input is what the store hashed before the move.
        assert_eq!(
            run.identity().to_string(),
            r#"{"cpu":"Test CPU","gpu":null,"ram_bytes":1024,"threads":8}"#
        );
    }
}
