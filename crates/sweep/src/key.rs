//! What a cached result or a built variant is keyed by: every input that decides it.
//!
//! A result's key is the hash of a [`ResultInputs`] (through [`ResultSpec::cache_key`], which
//! adds the machine for perf results); a compressed variant's folder is named by the hash of a
//! [`VariantInputs`]. Changing any input (a new compressor or results version, another kernel
//! path, sandbox, toolchain or time-limit rule) changes the key, so the store and the variants
//! folder simply miss and the sweep computes afresh. Nothing is migrated or rewritten: rows and
//! folders made under older keys stay readable (reports, exports, `tradeoff runs`), they are
//! just not reused by a sweep whose inputs differ.

use serde::Serialize;
use serde_json::{json, Value};
use tradeoff_compress::Recipe;
use tradeoff_eval::record::TimeRule;
use tradeoff_eval::sandbox::Isolation;
use tradeoff_store::{sha256_json, Kind, ResultSpec};

/// Version of what the sweep stores for the same inputs. Bump it whenever outputs change:
/// a change to scoring, prompts, extraction of the answer, generation, metrics or their
/// definitions, or the record's content, anywhere in eval, measure, engine or here. Results
/// stored under the old number are then missed and recomputed (they stay in the store,
/// readable, and are no longer reused).
pub const RESULTS_VERSION: u32 = 1;

/// Every input that decides one stored result; two equal values are the same result, and
/// [`ResultInputs::key`] is its cache key.
///
/// What was measured is the store's [`ResultSpec`] (`measured`); how it was computed is the
/// rest (stored in the result's params under `"environment"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultInputs {
    /// The variant (its store id: the hash of its model, source sha256, recipe and artifact
    /// sha256; a served variant: its URL, model id, chat template and listing), benchmark or
    /// measurement, data set and sha256, prompt template, generation parameters, seed, n, k,
    /// and `params`: a benchmark's problem limit, prompt style and split; quality's options
    /// and baseline; perf's options and threads; a benchmark's scoring version above 1.
    pub measured: ResultSpec,
    /// [`RESULTS_VERSION`] when made by this build.
    pub results_version: u32,
    /// The engine's matrix-kernel path ([`tradeoff_engine::kernels::id`]) for weights run in
    /// this process; None for a variant served elsewhere (its kernels are the server's).
    pub kernels: Option<String>,
    /// The sandbox's isolation ([`isolation_key`]); executed benchmarks only.
    pub sandbox: Option<Value>,
    /// The toolchain that ran the programs (`Executor::toolchain`: path and version of
    /// Python, javac or g++); executed benchmarks only.
    pub toolchain: Option<String>,
    /// The CPU-time limit rule; executed benchmarks only.
    pub time_rule: Option<TimeRule>,
}

impl ResultInputs {
    /// A result of `variant` with nothing else set, at this build's [`RESULTS_VERSION`].
    pub fn new(variant: &str, kind: Kind, name: impl Into<String>) -> Self {
        Self {
            measured: ResultSpec::new(variant, kind, name),
            results_version: RESULTS_VERSION,
            kernels: None,
            sandbox: None,
            toolchain: None,
            time_rule: None,
        }
    }

    /// The store's spec: the measured inputs in their columns, the environment in
    /// `params.environment` (so exports and imports carry it and keep the key).
    pub fn spec(&self) -> ResultSpec {
        let mut spec = self.measured.clone();
        spec.params = match spec.params {
            Value::Object(_) => spec.params,
            Value::Null => json!({}),
            other => json!({ "params": other }),
        };
        spec.params["environment"] = json!({
            "results_version": self.results_version,
            "kernels": self.kernels,
            "sandbox": self.sandbox,
            "toolchain": self.toolchain,
            "time_rule": self.time_rule,
        });
        spec
    }

    /// The cache key in a store whose run has machine fingerprint `machine_fp` (used for perf
    /// results only).
    pub fn key(&self, machine_fp: &str) -> String {
        self.spec().cache_key(machine_fp)
    }
}

/// The sandbox's isolation as a key: every field of [`Isolation`] (fields added later are
/// included without a change here), except that the uid base, which differs from process to
/// process, only counts as whether programs run under their own uid.
pub fn isolation_key(i: &Isolation) -> Value {
    let mut v = serde_json::to_value(i).expect("Isolation serializes");
    if let Some(o) = v.as_object_mut() {
        o.remove("uid_base");
        o.insert("per_run_uid".into(), Value::Bool(i.uid_base.is_some()));
    }
    v
}

/// Everything that decides a compressed artifact; [`VariantInputs::key`] names its folder,
/// so a change in any of them builds a new artifact instead of reusing the old one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantInputs {
    /// sha256 of the source weights.
    pub source_sha256: String,
    /// The recipe's canonical TOML ([`Recipe::to_toml`]).
    pub recipe: String,
    /// [`Recipe::compressor_version`]: the compressor's and the method's versions.
    pub compressor_version: String,
    /// Calibrated recipes only: which data, and the seed that picks its windows.
    pub calibration: Option<CalibrationInputs>,
}

/// The calibration a calibrated recipe reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationInputs {
    /// sha256 of the data: the pinned standard-library corpus' text, or the user's file or
    /// folder ([`tradeoff_store::hash_artifact`]).
    pub sha256: String,
    pub seed: u64,
}

impl VariantInputs {
    /// `calibration` is dropped for recipes that read none (their artifact does not depend
    /// on it).
    pub fn new(
        recipe: &Recipe,
        source_sha256: &str,
        calibration: Option<CalibrationInputs>,
    ) -> Self {
        Self {
            source_sha256: source_sha256.to_string(),
            recipe: recipe.to_toml(),
            compressor_version: recipe.compressor_version(),
            calibration: calibration.filter(|_| recipe.needs_calibration()),
        }
    }

    /// sha256 (hex) of the canonical JSON of every input.
    pub fn key(&self) -> String {
        sha256_json(&serde_json::to_value(self).expect("VariantInputs serializes"))
    }

    /// The key's first 12 hex chars, for folder names.
    pub fn short_key(&self) -> String {
        self.key()[..12].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradeoff_store::Dataset;

    fn isolation() -> Isolation {
        serde_json::from_value(json!({
            "network": true,
            "pid": true,
            "user_namespace": true,
            "uid_base": null,
            "process_limit": true,
            "filesystem": 3,
            "read_only_mounts": true,
            "no_privileges": true,
        }))
        .unwrap()
    }

    fn bench() -> ResultInputs {
        let mut r = ResultInputs::new("variant-sha", Kind::Bench, "humaneval");
        r.measured.dataset = Some(Dataset {
            name: "humaneval".into(),
            sha256: "data-sha".into(),
        });
        r.measured.prompt_template = Some("{prompt}".into());
        r.measured.generation = Some(json!({ "max_new_tokens": 512, "temperature": 0.0 }));
        r.measured.seed = 1;
        r.measured.n = 1;
        r.measured.k = vec![1];
        r.measured.params = json!({ "limit": null, "style": "base", "split": null });
        r.kernels = Some("avx2".into());
        r.sandbox = Some(isolation_key(&isolation()));
        r.toolchain = Some("/usr/bin/python3 3.11.2".into());
        r.time_rule = Some(TimeRule::default());
        r
    }

    type Change = Box<dyn Fn(&mut ResultInputs)>;

    /// Each input changed alone, with what it changes.
    fn one_change_each() -> Vec<(&'static str, Change)> {
        vec![
            (
                "variant",
                Box::new(|r| r.measured.variant = "other-variant".into()),
            ),
            ("kind", Box::new(|r| r.measured.kind = Kind::Quality)),
            ("name", Box::new(|r| r.measured.name = "mbpp".into())),
            (
                "dataset sha",
                Box::new(|r| r.measured.dataset.as_mut().unwrap().sha256 = "new-data".into()),
            ),
            ("dataset", Box::new(|r| r.measured.dataset = None)),
            (
                "prompt template",
                Box::new(|r| r.measured.prompt_template = Some("<s>{prompt}".into())),
            ),
            (
                "generation",
                Box::new(|r| r.measured.generation.as_mut().unwrap()["temperature"] = json!(0.2)),
            ),
            ("seed", Box::new(|r| r.measured.seed = 2)),
            ("n", Box::new(|r| r.measured.n = 10)),
            ("k", Box::new(|r| r.measured.k = vec![1, 5])),
            (
                "prompt style",
                Box::new(|r| r.measured.params["style"] = json!("instruct")),
            ),
            (
                "problem limit",
                Box::new(|r| r.measured.params["limit"] = json!(20)),
            ),
            (
                "split",
                Box::new(|r| r.measured.params["split"] = json!("test")),
            ),
            (
                "benchmark's scoring version",
                Box::new(|r| r.measured.params["scoring_version"] = json!(2)),
            ),
            (
                "results version",
                Box::new(|r| r.results_version = RESULTS_VERSION + 1),
            ),
            (
                "kernels",
                Box::new(|r| r.kernels = Some("avx512-vnni".into())),
            ),
            ("kernels (none)", Box::new(|r| r.kernels = None)),
            ("sandbox (none)", Box::new(|r| r.sandbox = None)),
            (
                "python version",
                Box::new(|r| r.toolchain = Some("/usr/bin/python3 3.12.1".into())),
            ),
            (
                "toolchain",
                Box::new(|r| r.toolchain = Some("/usr/bin/javac javac 17.0.8".into())),
            ),
            (
                "time-limit base",
                Box::new(|r| r.time_rule.as_mut().unwrap().base_s = 1.0),
            ),
            (
                "time-limit factor",
                Box::new(|r| r.time_rule.as_mut().unwrap().factor = 3.0),
            ),
            (
                "time-limit default",
                Box::new(|r| r.time_rule.as_mut().unwrap().default_s = 5.0),
            ),
            ("time rule (none)", Box::new(|r| r.time_rule = None)),
        ]
    }

    #[test]
    fn same_inputs_hit_and_each_changed_input_misses() {
        let base = bench().key("machine");
        assert_eq!(bench().key("machine"), base, "same inputs, same key");
        // The machine counts for perf only: a benchmark is reused on another machine when
        // everything above is the same.
        assert_eq!(bench().key("other machine"), base);
        let mut seen = std::collections::BTreeMap::new();
        for (what, change) in one_change_each() {
            let mut r = bench();
            change(&mut r);
            assert_ne!(r, bench(), "{what}: the change changed nothing");
            let k = r.key("machine");
            assert_ne!(k, base, "{what} changed but the key did not (a stale hit)");
            if let Some(other) = seen.insert(k, what) {
                panic!("{what} and {other} give the same key");
            }
        }
    }

    /// Every isolation field counts, whatever fields `Isolation` has: flipped one at a time
    /// through its JSON, each gives another key; only the per-process uid base does not.
    #[test]
    fn every_isolation_field_is_in_the_key() {
        let base_iso = serde_json::to_value(isolation()).unwrap();
        let key_of = |v: &Value| {
            let iso: Isolation = serde_json::from_value(v.clone()).unwrap();
            let mut r = bench();
            r.sandbox = Some(isolation_key(&iso));
            r.key("machine")
        };
        let base = key_of(&base_iso);
        let fields: Vec<String> = base_iso.as_object().unwrap().keys().cloned().collect();
        assert!(fields.len() >= 8, "{fields:?}");
        for f in &fields {
            let mut v = base_iso.clone();
            v[f] = match &v[f] {
                Value::Bool(b) => json!(!b),
                Value::Null => json!(1),
                Value::Number(_) => Value::Null,
                other => panic!("isolation field {f} is {other}: teach this test to change it"),
            };
            assert_ne!(key_of(&v), base, "isolation field {f} is not in the key");
        }
        // Two processes running as root get different uid bases: the same isolation.
        let mut a = base_iso.clone();
        a["uid_base"] = json!(1_900_000_000u32);
        let mut b = base_iso.clone();
        b["uid_base"] = json!(1_900_000_064u32);
        assert_ne!(key_of(&a), base);
        assert_eq!(key_of(&a), key_of(&b));
    }

    #[test]
    fn environment_goes_to_params_and_keeps_the_measured_params() {
        let s = bench().spec();
        assert_eq!(s.params["style"], "base");
        assert_eq!(s.params["environment"]["results_version"], RESULTS_VERSION);
        assert_eq!(s.params["environment"]["kernels"], "avx2");
        assert_eq!(s.params["environment"]["time_rule"]["factor"], 4.0);
        // A spec read back from the store (export/import) hashes to the same key.
        let back: ResultSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back.cache_key("m"), bench().key("m"));
        // Perf: the machine is part of the key.
        let mut p = ResultInputs::new("v", Kind::Perf, "perf");
        p.kernels = Some("avx2".into());
        assert_ne!(p.key("m1"), p.key("m2"));
        assert_eq!(p.key("m1"), p.clone().key("m1"));
    }

    fn recipe(name: &str) -> Recipe {
        Recipe::load(name).unwrap()
    }

    fn calib(sha: &str, seed: u64) -> Option<CalibrationInputs> {
        Some(CalibrationInputs {
            sha256: sha.into(),
            seed,
        })
    }

    #[test]
    fn variant_key_hits_on_same_inputs_and_misses_on_each_change() {
        let r = recipe("gptq-q4_0");
        assert!(r.needs_calibration());
        let base = VariantInputs::new(&r, "src", calib("cal", 0));
        assert_eq!(
            VariantInputs::new(&r, "src", calib("cal", 0)).key(),
            base.key()
        );
        assert_eq!(base.short_key().len(), 12);
        let mut other_method_version = base.clone();
        other_method_version.compressor_version =
            format!("{}.{}", tradeoff_compress::VERSION, r.method.version() + 1);
        let mut other_crate_version = base.clone();
        other_crate_version.compressor_version =
            format!("{}.{}", tradeoff_compress::VERSION + 1, r.method.version());
        let mut damp = r.clone();
        damp.gptq.get_or_insert_with(Default::default).damp = 0.05;
        let changed = [
            ("source", VariantInputs::new(&r, "src2", calib("cal", 0))),
            ("recipe", VariantInputs::new(&damp, "src", calib("cal", 0))),
            ("method version", other_method_version),
            ("compressor version", other_crate_version),
            (
                "calibration data",
                VariantInputs::new(&r, "src", calib("cal2", 0)),
            ),
            (
                "calibration seed",
                VariantInputs::new(&r, "src", calib("cal", 1)),
            ),
        ];
        for (what, v) in changed {
            assert_ne!(
                v.key(),
                base.key(),
                "{what} changed but the variant key did not"
            );
        }
        // The recipe records the current versions.
        assert_eq!(
            base.compressor_version,
            format!("{}.{}", tradeoff_compress::VERSION, r.method.version())
        );
    }

    #[test]
    fn uncalibrated_recipes_ignore_calibration_and_seed() {
        let r = recipe("q4_0");
        assert!(!r.needs_calibration());
        let a = VariantInputs::new(&r, "src", calib("cal", 0));
        let b = VariantInputs::new(&r, "src", calib("cal2", 7));
        let c = VariantInputs::new(&r, "src", None);
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), c.key());
        assert_ne!(
            a.key(),
            VariantInputs::new(&recipe("q8_0"), "src", None).key()
        );
    }
}
