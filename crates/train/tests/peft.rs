//! The PEFT export loaded by PEFT itself: the adapter, applied by `PeftModel` onto the Hugging
//! Face model that transformers reads from the same GGUF, must give tradeoff's logits.
//! Needs Python with PyTorch, transformers, PEFT and gguf (about 4 GB), so it is ignored by
//! default:
//!
//! ```text
//! TRADEOFF_PYTHON=$(scripts/peft-venv) cargo test -p tradeoff-train --test peft -- --ignored
//! ```

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::process::Command;
use tradeoff_train::{peft, Base, Lora, LoraConfig};

fn check(model: &str) {
    let gguf = match tradeoff_engine::resolve(model).unwrap() {
        tradeoff_engine::ModelPath::Gguf(p) => p,
        other => panic!("{other:?}: expected a GGUF"),
    };
    let base = Base::load(&gguf, DType::F32, false).unwrap();
    let ad = base.adapters(&LoraConfig::every_linear(4, 8.0), 7).unwrap();
    // B starts at zero; give every adapter an update, so a wrong name or layout shows.
    for (i, pair) in ad.map.values().enumerate() {
        let b = Tensor::randn(0f32, 0.02, pair.b.shape(), &Device::Cpu).unwrap();
        pair.b
            .set(&b)
            .unwrap_or_else(|e| panic!("adapter {i}: {e}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let adapter = dir.path().join("adapter");
    peft::export(&ad, &base.cfg, model, &adapter).unwrap();
    let tokens: Vec<u32> = (0..24u32).map(|i| (i * 97 + 13) % 5000).collect();
    let lora = Lora {
        adapters: &ad,
        grad: false,
        dropout: None,
    };
    let logits = base.forward(&tokens, 1, Some(lora)).unwrap();
    let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let expected = dir.path().join("expected.safetensors");
    let map = HashMap::from([
        (
            "tokens".to_string(),
            Tensor::new(ids.as_slice(), &Device::Cpu).unwrap(),
        ),
        ("logits".to_string(), logits),
    ]);
    candle_core::safetensors::save(&map, &expected).unwrap();
    let python = std::env::var("TRADEOFF_PYTHON")
        .expect("TRADEOFF_PYTHON: the interpreter `scripts/peft-venv` prints");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/peft-check.py");
    let out = Command::new(python)
        .arg(script)
        .args([&gguf, &adapter, &expected])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{model}: {stdout}");
    assert!(
        out.status.success(),
        "{model}: PEFT disagrees\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs PyTorch + PEFT: TRADEOFF_PYTHON=$(scripts/peft-venv) cargo test -p tradeoff-train --test peft -- --ignored"]
fn peft_loads_the_adapter_llama() {
    check("smollm2-135m");
}

#[test]
#[ignore = "needs PyTorch + PEFT and Qwen2.5-Coder-0.5B: TRADEOFF_PYTHON=$(scripts/peft-venv) cargo test -p tradeoff-train --test peft -- --ignored"]
fn peft_loads_the_adapter_qwen2() {
    check("qwen2.5-coder-0.5b");
}
