//! The machine a figure was measured on (recorded with every speed, memory and energy
//! number: [`Machine`], detected as the run store does), peak memory and RAPL energy.

pub use tradeoff_record::proc::peak_rss_bytes;
pub use tradeoff_record::Machine;

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
