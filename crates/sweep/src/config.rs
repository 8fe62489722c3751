//! The sweep's TOML config: which models, which variants of each, and how to measure them.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A sweep config file, e.g. `examples/demo.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// The run's name in the store; rerunning the same config under it resumes the run.
    pub name: String,
    /// Catalog names, GGUF files or model folders.
    pub models: Vec<String>,
    /// Seed for calibration sampling, generation and bootstrap.
    #[serde(default)]
    pub seed: u64,
    /// The variant every other is compared with, as `MODEL/LABEL` or `LABEL` [default: the
    /// first model's `original`].
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(rename = "variant", default)]
    pub variants: Vec<VariantConfig>,
    #[serde(default)]
    pub eval: Option<EvalConfig>,
    #[serde(default)]
    pub quality: Option<QualityConfig>,
    #[serde(default)]
    pub perf: Option<PerfConfig>,
    #[serde(default)]
    pub report: ReportConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// A built-in recipe name (`tradeoff compress --list`) or a recipe TOML file, relative to
    /// the config file; applied to every model.
    #[serde(default)]
    pub recipe: Option<String>,
    /// Instead of a recipe: an OpenAI-compatible server that serves the variant
    /// (`http://HOST:PORT/v1#MODEL-ID`: vLLM, TGI, llama-server, tradeoff serve), measured once
    /// rather than per model, by [eval] and [perf] ([quality] needs the weights).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// With `endpoint`, for servers that do not publish their chat template (vLLM, TGI): a
    /// model (catalog name, GGUF or folder) whose template the served model uses.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Name in tables and charts [default: the recipe's name, or the endpoint's model id].
    #[serde(default)]
    pub label: Option<String>,
    /// Calibration data (JSONL or folder) for recipes that calibrate [default: the pinned
    /// CPython standard-library files].
    #[serde(default)]
    pub calibration: Option<String>,
    /// Heal the compressed variant before measuring it: `heal` (the built-in recipe) or a heal
    /// recipe TOML, relative to the config file (`tradeoff train heal`: the model as teacher,
    /// LoRA on the variant, merged and requantized to the variant's types).
    #[serde(default)]
    pub heal: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// humaneval, mbpp, mbpp-reworded, humaneval-java, humaneval-cpp.
    pub benchmarks: Vec<String>,
    /// Only the first N problems of each benchmark.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default = "default_max_new")]
    pub max_new_tokens: usize,
    /// Samples per problem (pass@k for each k ≤ n).
    #[serde(default = "one")]
    pub n: usize,
    #[serde(default)]
    pub temperature: f32,
    /// "instruct" (chat template, code fence prefilled) or "base" (plain completion).
    #[serde(default = "default_style")]
    pub style: String,
    /// MBPP split when an MBPP benchmark is listed.
    #[serde(default)]
    pub split: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// Windows of the held-out corpus.
    #[serde(default = "default_chunks")]
    pub chunks: usize,
    #[serde(default = "default_ctx")]
    pub ctx: usize,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerfConfig {
    #[serde(default = "default_prompts")]
    pub prompts: usize,
    #[serde(default = "default_perf_tokens")]
    pub max_new_tokens: usize,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_price")]
    pub price_per_hour: f64,
}

/// Which metrics `tradeoff sweep` puts on the report's frontiers (the report command can
/// choose others later).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    #[serde(default)]
    pub quality: Vec<String>,
    #[serde(default)]
    pub costs: Vec<String>,
}

fn one() -> usize {
    1
}
fn default_max_new() -> usize {
    512
}
fn default_style() -> String {
    "instruct".into()
}
fn default_chunks() -> usize {
    32
}
fn default_ctx() -> usize {
    512
}
fn default_top_k() -> usize {
    128
}
fn default_prompts() -> usize {
    20
}
fn default_perf_tokens() -> usize {
    128
}
fn default_concurrency() -> usize {
    8
}
fn default_price() -> f64 {
    1.0
}

impl SweepConfig {
    /// Reads and checks a config; errors name the file, the line and the key.
    pub fn load(path: &Path) -> crate::Result<(SweepConfig, String)> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::Config {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        let cfg = Self::parse(&text).map_err(|msg| crate::Error::Config {
            path: path.to_path_buf(),
            msg,
        })?;
        Ok((cfg, text))
    }

    /// Parses and validates TOML text; the error is one line ("line N: ...").
    pub fn parse(text: &str) -> Result<SweepConfig, String> {
        let cfg: SweepConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| format!("line {}: ", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            format!("{line}{}", e.message().trim())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("key `name`: must not be empty".into());
        }
        if self.models.is_empty() {
            return Err("key `models`: list at least one model".into());
        }
        if self.variants.is_empty() {
            return Err("no [[variant]]: add at least `[[variant]] recipe = \"original\"`".into());
        }
        let mut labels = std::collections::BTreeSet::new();
        for v in &self.variants {
            match (&v.recipe, &v.endpoint) {
                (Some(_), None) if v.chat_template.is_some() => {
                    return Err("[[variant]] `chat_template` goes with `endpoint`: a recipe's variant has its model's template".into())
                }
                (Some(_), None) => {}
                (None, Some(e)) if e.starts_with("http://") || e.starts_with("https://") => {}
                (None, Some(e)) => {
                    return Err(format!(
                        "[[variant]] endpoint `{e}`: expected http://HOST:PORT/v1#MODEL-ID"
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err("[[variant]] has both `recipe` and `endpoint`: a variant is built here or served elsewhere, not both".into())
                }
                (None, None) => {
                    return Err("[[variant]] needs `recipe = \"NAME\"` (built here) or `endpoint = \"http://HOST:PORT/v1#MODEL-ID\"` (served elsewhere)".into())
                }
            }
            if v.heal.is_some() && v.recipe.as_deref().is_none_or(|r| r == "original") {
                return Err("[[variant]] `heal` needs a compression recipe: it heals what the recipe made (`recipe = \"wanda-2:4\"`, `heal = \"heal\"`)".into());
            }
            if !labels.insert(v.label()) {
                return Err(format!(
                    "[[variant]] label `{}` appears twice: give one a `label`",
                    v.label()
                ));
            }
        }
        if let Some(e) = &self.eval {
            if e.benchmarks.is_empty() {
                return Err("key `eval.benchmarks`: list at least one benchmark".into());
            }
            if e.n == 0 {
                return Err("key `eval.n`: must be at least 1".into());
            }
            if e.n > 1 && e.temperature <= 0.0 {
                return Err(format!(
                    "key `eval.n` = {} with greedy decoding gives identical samples: set `eval.temperature`",
                    e.n
                ));
            }
            if !["instruct", "base"].contains(&e.style.as_str()) {
                return Err(format!(
                    "key `eval.style`: `{}` is not one of instruct, base",
                    e.style
                ));
            }
        }
        if self.eval.is_none() && self.quality.is_none() && self.perf.is_none() {
            return Err("nothing to measure: add [eval], [quality] and/or [perf]".into());
        }
        if let Some(b) = &self.baseline {
            if self.variant_for(b).is_none() {
                return Err(format!(
                    "key `baseline`: `{b}` is no variant of this sweep (MODEL/LABEL or LABEL)"
                ));
            }
        }
        Ok(())
    }

    /// (model index, variant index) named by `MODEL/LABEL` or `LABEL` (first model).
    pub fn variant_for(&self, name: &str) -> Option<(usize, usize)> {
        let (m, label) = match name.rsplit_once('/') {
            Some((m, l)) => (self.models.iter().position(|x| x == m)?, l),
            None => (0, name),
        };
        let v = self.variants.iter().position(|v| v.label() == label)?;
        Some((m, v))
    }

    /// The baseline as (model index, variant index), if the sweep has one.
    pub fn baseline(&self) -> Option<(usize, usize)> {
        match &self.baseline {
            Some(b) => self.variant_for(b),
            None => self.variant_for("original"),
        }
    }
}

impl VariantConfig {
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        match (&self.recipe, &self.endpoint) {
            (Some(r), _) if self.heal.is_some() => format!("{r}+heal"),
            (Some(r), _) => r.clone(),
            (None, Some(e)) => e.rsplit_once('#').map_or("remote", |(_, m)| m).to_string(),
            (None, None) => String::new(),
        }
    }

    /// The server's URL and model id, for a variant served elsewhere.
    pub fn endpoint(&self) -> Option<(&str, Option<&str>)> {
        let e = self.endpoint.as_deref()?;
        Some(match e.split_once('#') {
            Some((u, m)) => (u, Some(m)),
            None => (e, None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configs the README points users to stay valid, benchmark names included.
    #[test]
    fn every_example_config_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let (cfg, _) = SweepConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
                for b in cfg.eval.iter().flat_map(|e| &e.benchmarks) {
                    assert!(
                        tradeoff_eval::bench::BENCHMARKS.iter().any(|d| d.0 == b),
                        "{}: unknown benchmark {b}",
                        path.display()
                    );
                }
                n += 1;
            }
        }
        assert!(n >= 5, "examples/ has {n} configs");
    }

    const OK: &str = r#"
name = "t"
models = ["smollm2-135m"]
[[variant]]
recipe = "original"
[[variant]]
recipe = "q8_0"
[eval]
benchmarks = ["humaneval"]
limit = 3
"#;

    #[test]
    fn parses_and_defaults() {
        let c = SweepConfig::parse(OK).unwrap();
        assert_eq!(c.variants.len(), 2);
        let e = c.eval.clone().unwrap();
        assert_eq!(
            (e.n, e.max_new_tokens, e.style.as_str()),
            (1, 512, "instruct")
        );
        assert_eq!(c.baseline(), Some((0, 0)));
    }

    #[test]
    fn errors_name_line_and_key() {
        let bad = OK.replace("limit = 3", "limit = 3\nlimt = 4");
        let e = SweepConfig::parse(&bad).unwrap_err();
        assert!(e.starts_with("line 11:") && e.contains("limt"), "{e}");
        let bad = OK.replace("limit = 3", "limit = \"three\"");
        let e = SweepConfig::parse(&bad).unwrap_err();
        assert!(e.starts_with("line 10:"), "{e}");
        let remote = format!("{OK}\n[[variant]]\nendpoint = \"http://h:8000/v1#org/m\"\n");
        let c = SweepConfig::parse(&remote).unwrap();
        assert_eq!(c.variants[2].label(), "org/m");
        assert_eq!(
            c.variants[2].endpoint(),
            Some(("http://h:8000/v1", Some("org/m")))
        );
        let both = format!("{OK}\n[[variant]]\nrecipe = \"q4_0\"\nendpoint = \"http://h/v1\"\n");
        let e = SweepConfig::parse(&both).unwrap_err();
        assert!(e.contains("both"), "{e}");
        let neither = format!("{OK}\n[[variant]]\nlabel = \"x\"\n");
        let e = SweepConfig::parse(&neither).unwrap_err();
        assert!(e.contains("needs `recipe"), "{e}");
        let dup = format!("{OK}\n[[variant]]\nrecipe = \"q8_0\"\n");
        let e = SweepConfig::parse(&dup).unwrap_err();
        assert!(e.contains("`q8_0` appears twice"), "{e}");
        let e =
            SweepConfig::parse(&OK.replace("name = \"t\"\n", "name = \"t\"\nbaseline = \"q9\"\n"))
                .unwrap_err();
        assert!(e.contains("key `baseline`"), "{e}");
    }
}
