//! Our forward pass against candle-transformers' quantized_llama on SmolLM2-135M (pulled with
//! `tradeoff models pull smollm2-135m`).
//!
//! Both must agree within 1e-3 on the last position's logits when weights are expanded to f32.
//! On the quantized weights the two differ by up to ~0.5 (of logits ~25), and so do both from
//! an f64 reference: each matmul rounds its input activations to 8 bits, and a 1e-7 difference
//! in attention summation order flips some of those roundings, which 30 layers amplify. That
//! case is checked with a bound sized to it and the same top token.

use candle_core::{Device, Tensor};
use tradeoff_engine::{LoadOptions, LocalEngine, ModelPath};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn compare(dequantize: bool) -> (f32, u32, u32) {
    let path = tradeoff_assets::find(tradeoff_assets::Kind::Model, "smollm2-135m")
        .unwrap()
        .require(&tradeoff_assets::cache_dir())
        .unwrap_or_else(|e| panic!("{e} (this test needs the real model)"));
    let e = LocalEngine::load(
        &ModelPath::Gguf(path.clone()),
        LoadOptions {
            dequantize,
            ..Default::default()
        },
    )
    .unwrap();
    let prompt = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n";
    let ids = e.tokenizer.encode(prompt).unwrap();
    let ours = e
        .model
        .logits_all(&ids, None)
        .unwrap()
        .get(ids.len() - 1)
        .unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let ct = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    let mut theirs = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        ct,
        &mut f,
        &Device::Cpu,
    )
    .unwrap();
    let x = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let theirs = theirs.forward(&x, 0).unwrap().squeeze(0).unwrap();
    let argmax = |t: &Tensor| t.argmax(0).unwrap().to_scalar::<u32>().unwrap();
    (max_diff(&ours, &theirs), argmax(&ours), argmax(&theirs))
}

#[test]
fn logits_match_candle_quantized_llama() {
    // candle reads this once per thread, when its first QMatMul is built: set it before.
    std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1");
    let (d, a, b) = compare(true);
    eprintln!("f32 weights: max |Δlogit| {d:.2e}");
    assert!(d < 1e-3, "f32 weights: last-position logits differ by {d}");
    assert_eq!(a, b);
    std::env::remove_var("CANDLE_DEQUANTIZE_ALL");
    let (d, a, b) = std::thread::spawn(|| compare(false)).join().unwrap();
    eprintln!("quantized weights: max |Δlogit| {d:.3}");
    assert!(
        d < 1.5,
        "quantized weights: last-position logits differ by {d}"
    );
    assert_eq!(a, b, "quantized weights: different top token");
}
