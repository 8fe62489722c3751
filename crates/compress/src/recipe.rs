//! Recipes: what to do to a model, as built-in names or TOML files.
//!
//! ```toml
//! name = "my-mix"
//! method = "rtn"    # none | rtn | imatrix | gptq | magnitude | wanda | sparsegpt | shortgpt
//! type = "q4_k"     # a GGML type, q4_k_m / q3_k_m (llama.cpp mixes), or source
//! pure = false      # true: no llama.cpp per-tensor rules (output at Q6_K, ...)
//! [[override]]      # first matching regex wins
//! pattern = "ffn_down"
//! type = "q6_k"
//! [calibration]
//! samples = 16
//! ctx = 512
//! [gptq]            # also SparseGPT's damping and mask block
//! damp = 0.01
//! block = 128
//! act_order = false
//! sequential = false  # true: each layer calibrated on the compressed layers' outputs
//! [prune]
//! ratio = 0.5       # or pattern = "2:4" (keep 2 of every 4)
//! [depth]
//! drop = 3          # or fraction = 0.12
//! ```

use crate::{Error, Result};
use candle_core::quantized::GgmlDType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A compression recipe: a built-in name (`q8_0`, `q4_k_m`, `gptq-q4_0`, `wanda-50`, ...) or a
/// TOML file. `original` is a recipe too: it means "the base model unchanged".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    #[serde(default)]
    pub method: Method,
    /// Storage type of the quantizable weights: a GGML type (`q4_0`, `q6_k`, `f16`, ...), a
    /// llama.cpp mix (`q4_k_m`, `q3_k_m`), or `source` (keep the stored type).
    #[serde(rename = "type", default = "source_type")]
    pub qtype: String,
    /// Every quantizable tensor at `type`, without llama.cpp's per-tensor rules (output at
    /// Q6_K, ...). Shape fallbacks still apply.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pure: bool,
    /// Per-tensor types by regex on the GGUF name; the first match wins.
    #[serde(rename = "override", default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gptq: Option<GptqSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<PruneSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthSettings>,
}

fn source_type() -> String {
    "source".into()
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Nothing: the base model as it is.
    None,
    /// Round-to-nearest into GGML blocks.
    #[default]
    Rtn,
    /// Round-to-nearest weighted by the calibration activations' mean x² per input column.
    Imatrix,
    /// GPTQ with the GGML block format as the quantization grid.
    Gptq,
    Magnitude,
    Wanda,
    Sparsegpt,
    /// Drop the decoder layers whose output is most like their input (ShortGPT).
    Shortgpt,
}

impl Method {
    /// This method's own version: bump its number whenever a change alters the artifacts it
    /// makes from the same recipe, source and calibration data (a fix, a new scale search, a
    /// changed default). Changes shared by every method (GGUF writing, the per-tensor type
    /// rules, round-to-nearest, calibration) bump [`crate::VERSION`] instead. Both are part
    /// of [`Recipe::compressor_version`], which the sweep hashes into a variant's folder
    /// name: a bump rebuilds that method's variants instead of reusing the old artifacts.
    pub fn version(self) -> u32 {
        match self {
            Method::None => 1,
            Method::Rtn => 1,
            Method::Imatrix => 1,
            // 2: Hessians summed in f32, layer by layer.
            Method::Gptq => 2,
            Method::Magnitude => 1,
            Method::Wanda => 1,
            Method::Sparsegpt => 2,
            Method::Shortgpt => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub pattern: String,
    #[serde(rename = "type")]
    pub qtype: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibSettings {
    #[serde(default = "default_samples")]
    pub samples: usize,
    #[serde(default = "default_ctx")]
    pub ctx: usize,
}

fn default_samples() -> usize {
    16
}
fn default_ctx() -> usize {
    512
}

impl Default for CalibSettings {
    fn default() -> Self {
        Self {
            samples: default_samples(),
            ctx: default_ctx(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GptqSettings {
    /// Added to H's diagonal, as a fraction of its mean.
    #[serde(default = "default_damp")]
    pub damp: f64,
    /// Columns per lazy-update block (SparseGPT: per mask-selection block).
    #[serde(default = "default_block")]
    pub block: usize,
    /// Quantize columns in order of decreasing H diagonal (block scales then come from the
    /// original weights, so that every GGML block still has one scale).
    #[serde(default)]
    pub act_order: bool,
    /// Calibrate each layer on what the compressed layers before it compute (the GPTQ paper's
    /// order) instead of on the original model's activations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequential: bool,
}

fn default_damp() -> f64 {
    0.01
}
fn default_block() -> usize {
    128
}

impl Default for GptqSettings {
    fn default() -> Self {
        Self {
            damp: default_damp(),
            block: default_block(),
            act_order: false,
            sequential: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneSettings {
    /// Fraction of each output row's weights set to zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// `N:M`: N of every M consecutive input weights of a row are kept (2:4 sparsity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
}

/// A sparsity pattern, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsity {
    Ratio(f64),
    /// Keep `n` of every `m`.
    NofM(usize, usize),
}

/// What a `type` string means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSpec {
    Source,
    Fixed(GgmlDType),
    Mix(Mix),
}

/// llama.cpp's mixed-type presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    Q4KM,
    Q3KM,
}

pub const TYPE_NAMES: &[(&str, GgmlDType)] = &[
    ("f32", GgmlDType::F32),
    ("f16", GgmlDType::F16),
    ("bf16", GgmlDType::BF16),
    ("q8_0", GgmlDType::Q8_0),
    ("q6_k", GgmlDType::Q6K),
    ("q5_k", GgmlDType::Q5K),
    ("q5_1", GgmlDType::Q5_1),
    ("q5_0", GgmlDType::Q5_0),
    ("q4_k", GgmlDType::Q4K),
    ("q4_1", GgmlDType::Q4_1),
    ("q4_0", GgmlDType::Q4_0),
    ("q3_k", GgmlDType::Q3K),
    ("q2_k", GgmlDType::Q2K),
];

pub fn type_name(t: GgmlDType) -> String {
    TYPE_NAMES
        .iter()
        .find(|(_, d)| *d == t)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| format!("{t:?}").to_lowercase())
}

pub fn parse_type(s: &str) -> Option<TypeSpec> {
    match s {
        "source" => Some(TypeSpec::Source),
        "q4_k_m" => Some(TypeSpec::Mix(Mix::Q4KM)),
        "q3_k_m" => Some(TypeSpec::Mix(Mix::Q3KM)),
        _ => TYPE_NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, d)| TypeSpec::Fixed(*d)),
    }
}

const BUILTIN: &[(&str, &str)] = &[
    ("original", "the base model unchanged (no artifact)"),
    ("q8_0", "RTN, 8-bit blocks of 32 (llama.cpp Q8_0)"),
    ("q6_k", "RTN, 6-bit k-quant"),
    ("q5_k", "RTN, 5-bit k-quant"),
    ("q5_0", "RTN, 5-bit blocks of 32, symmetric"),
    ("q5_1", "RTN, 5-bit blocks of 32, with offset"),
    ("q4_k", "RTN, 4-bit k-quant"),
    ("q4_0", "RTN, 4-bit blocks of 32, symmetric"),
    ("q4_1", "RTN, 4-bit blocks of 32, with offset"),
    ("q3_k", "RTN, 3-bit k-quant"),
    (
        "q2_k",
        "RTN, 2-bit k-quant (llama.cpp Q2_K rules for attn_v/ffn_down/attn_output)",
    ),
    (
        "q4_k_m",
        "RTN, llama.cpp Q4_K_M mix (Q6_K for half the attn_v/ffn_down)",
    ),
    ("q3_k_m", "RTN, llama.cpp Q3_K_M mix"),
    (
        "imatrix-q4_k_m",
        "Q4_K_M mix weighted by calibration activations (importance matrix)",
    ),
    (
        "imatrix-q4_0",
        "Q4_0 weighted by calibration activations (importance matrix)",
    ),
    (
        "gptq-q4_0",
        "GPTQ onto the Q4_0 grid (calibrated error compensation)",
    ),
    ("gptq-q8_0", "GPTQ onto the Q8_0 grid"),
    (
        "magnitude-50",
        "50% unstructured pruning by |W| per output row, Q8_0",
    ),
    (
        "wanda-50",
        "50% unstructured pruning by |W|·‖X‖ per output row, Q8_0",
    ),
    ("wanda-2:4", "2:4 semi-structured pruning by |W|·‖X‖, Q8_0"),
    (
        "sparsegpt-50",
        "50% unstructured SparseGPT (OBS weight updates), Q8_0",
    ),
    ("sparsegpt-2:4", "2:4 semi-structured SparseGPT, Q8_0"),
    (
        "shortgpt-12pct",
        "drop the 12% of layers with the lowest block influence (ShortGPT)",
    ),
];

fn builtin_recipe(name: &str) -> Option<Recipe> {
    BUILTIN.iter().find(|(n, _)| *n == name)?;
    let mut r = Recipe {
        name: name.into(),
        method: Method::Rtn,
        qtype: name.into(),
        pure: false,
        overrides: vec![],
        calibration: None,
        gptq: None,
        prune: None,
        depth: None,
    };
    let q8 = || "q8_0".to_string();
    match name {
        "original" => {
            r.method = Method::None;
            r.qtype = source_type();
        }
        _ if name.starts_with("imatrix-") => {
            r.method = Method::Imatrix;
            r.qtype = name["imatrix-".len()..].into();
        }
        _ if name.starts_with("gptq-") => {
            r.method = Method::Gptq;
            r.qtype = name["gptq-".len()..].into();
        }
        _ if name.contains('-') && !name.starts_with("shortgpt") => {
            let (m, s) = name.split_once('-').expect("has a dash");
            r.method = match m {
                "magnitude" => Method::Magnitude,
                "wanda" => Method::Wanda,
                _ => Method::Sparsegpt,
            };
            r.qtype = q8();
            r.prune = Some(if s == "2:4" {
                PruneSettings {
                    ratio: None,
                    pattern: Some("2:4".into()),
                }
            } else {
                PruneSettings {
                    ratio: Some(0.5),
                    pattern: None,
                }
            });
        }
        "shortgpt-12pct" => {
            r.method = Method::Shortgpt;
            r.qtype = source_type();
            r.depth = Some(DepthSettings {
                drop: None,
                fraction: Some(0.12),
            });
        }
        _ => {}
    }
    Some(r.normalized())
}

impl Recipe {
    /// A built-in name or the path of a TOML file.
    pub fn load(name_or_path: &str) -> Result<Recipe> {
        if let Some(r) = builtin_recipe(name_or_path) {
            return Ok(r);
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(Error::Recipe(format!(
                "recipe '{name_or_path}' is neither a built-in ({}) nor a TOML file",
                names.join(", ")
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Recipe(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Recipe> {
        let r: Recipe = toml::from_str(text).map_err(|e| toml_error(&e, text, origin))?;
        let r = r.normalized();
        r.validate().map_err(|m| {
            let line = m
                .strip_prefix("key `")
                .and_then(|rest| rest.split_once('`'))
                .and_then(|(k, _)| key_line(text, k));
            match line {
                Some(n) => Error::Recipe(format!("{origin}, line {n}, {m}")),
                None => Error::Recipe(format!("{origin}: {m}")),
            }
        })?;
        Ok(r)
    }

    /// Every built-in recipe with a one-line description (for `tradeoff compress --list`).
    pub fn builtin() -> Vec<(&'static str, &'static str)> {
        BUILTIN.to_vec()
    }

    /// True for `original` (no artifact is built: the base file is the variant).
    pub fn is_original(&self) -> bool {
        self.method == Method::None
    }

    /// Canonical TOML of the full recipe (stored in the run store and the manifest).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe always serializes")
    }

    /// Whether this recipe reads calibration data.
    pub fn needs_calibration(&self) -> bool {
        matches!(
            self.method,
            Method::Imatrix | Method::Gptq | Method::Wanda | Method::Sparsegpt | Method::Shortgpt
        )
    }

    /// The version of the code that builds this recipe's artifact: `"<crate>.<method>"`
    /// ([`crate::VERSION`], [`Method::version`]), recorded in the manifest.
    pub fn compressor_version(&self) -> String {
        format!("{}.{}", crate::VERSION, self.method.version())
    }

    /// 12 hex chars of sha256(to_toml()): names artifact folders.
    pub fn short_hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_toml().as_bytes()))[..12].to_string()
    }

    pub fn type_spec(&self) -> TypeSpec {
        parse_type(&self.qtype).unwrap_or(TypeSpec::Source)
    }

    pub fn sparsity(&self) -> Option<Sparsity> {
        let p = self.prune.as_ref()?;
        if let Some(r) = p.ratio {
            return Some(Sparsity::Ratio(r));
        }
        let (n, m) = p.pattern.as_deref()?.split_once(':')?;
        Some(Sparsity::NofM(
            n.trim().parse().ok()?,
            m.trim().parse().ok()?,
        ))
    }

    /// Fills in the defaults a method uses, so that `to_toml` shows the whole recipe.
    fn normalized(mut self) -> Self {
        if self.needs_calibration() && self.calibration.is_none() {
            self.calibration = Some(CalibSettings::default());
        }
        if matches!(self.method, Method::Gptq | Method::Sparsegpt) && self.gptq.is_none() {
            self.gptq = Some(GptqSettings::default());
        }
        self
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let spec = parse_type(&self.qtype).ok_or_else(|| {
            format!(
                "key `type`: unknown type '{}' (known: source, q4_k_m, q3_k_m, {})",
                self.qtype,
                TYPE_NAMES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        for o in &self.overrides {
            regex::Regex::new(&o.pattern)
                .map_err(|e| format!("key `override.pattern`: bad regex '{}': {e}", o.pattern))?;
            match parse_type(&o.qtype) {
                Some(TypeSpec::Fixed(_)) | Some(TypeSpec::Source) => {}
                _ => {
                    return Err(format!(
                        "key `override.type`: '{}' is not a single GGML type",
                        o.qtype
                    ))
                }
            }
        }
        match self.method {
            Method::Rtn | Method::Imatrix | Method::Gptq if spec == TypeSpec::Source => {
                return Err(format!(
                    "key `type`: method {:?} needs a quantized type",
                    self.method
                ))
            }
            Method::Gptq => {
                if let TypeSpec::Fixed(t) = spec {
                    if !crate::quant::grid_supported(t) {
                        return Err("key `type`: gptq writes q4_0, q5_0 or q8_0".into());
                    }
                } else {
                    return Err("key `type`: gptq writes q4_0, q5_0 or q8_0".into());
                }
            }
            Method::Magnitude | Method::Wanda | Method::Sparsegpt => {
                match self.sparsity() {
                    Some(Sparsity::Ratio(r)) if (0.0..1.0).contains(&r) => {}
                    Some(Sparsity::NofM(n, m)) if n > 0 && n < m => {}
                    _ => return Err(
                        "key `prune`: needs `ratio` in [0, 1) or `pattern = \"N:M\"` with N < M"
                            .into(),
                    ),
                }
            }
            Method::Shortgpt => match &self.depth {
                Some(DepthSettings {
                    drop: Some(_),
                    fraction: None,
                }) => {}
                Some(DepthSettings {
                    drop: None,
                    fraction: Some(f),
                }) if (0.0..1.0).contains(f) => {}
                _ => return Err("key `depth`: needs `drop = N` or `fraction` in [0, 1)".into()),
            },
            _ => {}
        }
        if let Some(c) = &self.calibration {
            if c.samples == 0 || c.ctx < 2 {
                return Err("key `calibration`: samples ≥ 1 and ctx ≥ 2".into());
            }
        }
        if let Some(g) = &self.gptq {
            if g.block == 0 || !(0.0..1.0).contains(&g.damp) {
                return Err("key `gptq`: block ≥ 1 and damp in [0, 1)".into());
            }
        }
        Ok(())
    }
}

/// One line: file, line, key and what is wrong.
fn toml_error(e: &toml::de::Error, text: &str, origin: &str) -> Error {
    let msg = e.message().replace('\n', " ");
    let Some(span) = e.span() else {
        return Error::Recipe(format!("{origin}: {msg}"));
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !msg.contains(&format!("`{k}`")));
    match key {
        Some(k) => Error::Recipe(format!("{origin}, line {line_no}, key `{k}`: {msg}")),
        None => Error::Recipe(format!("{origin}, line {line_no}: {msg}")),
    }
}

/// The line defining `key` (`type`, `prune`, `override.pattern`): a top-level `key =`, a
/// `[key]` header, or `leaf =` inside `[table]`.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = match key.split_once('.') {
        Some((t, l)) => (Some(t), l),
        None => (None, key),
    };
    let mut current: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_matches(|c| c == '[' || c == ']').trim();
            if table.is_none() && name == leaf {
                return Some(i + 1);
            }
            current = Some(name);
        } else if t.split_once('=').map(|(k, _)| k.trim()) == Some(leaf) && current == table {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressor_version_is_crate_then_method() {
        let r = Recipe::load("q4_0").unwrap();
        assert_eq!(
            r.compressor_version(),
            format!("{}.{}", crate::VERSION, Method::Rtn.version())
        );
    }
}
