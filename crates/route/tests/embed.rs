//! The in-process encoder against candle-transformers' f32 `BertModel` on the same weights:
//! the int8 kernels may move an embedding only by rounding, never change what it says.
//! Needs `tradeoff models pull all-minilm-l6-v2` (`make test` pulls it).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;
use tradeoff_route::Embedder;

fn reference(dir: &std::path::Path, text: &str) -> Vec<f32> {
    let config: Config =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    // SAFETY: read-only mapping of a file nobody writes during the test.
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    let model = BertModel::load(vb, &config).unwrap();
    let mut tok = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tok.with_padding(None);
    tok.with_truncation(Some(tokenizers::TruncationParams {
        max_length: 256,
        ..Default::default()
    }))
    .unwrap();
    let ids = tok.encode(text, true).unwrap().get_ids().to_vec();
    let ids = Tensor::new(ids.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let hidden = model
        .forward(&ids, &ids.zeros_like().unwrap(), None)
        .unwrap();
    let mean: Vec<f32> = hidden
        .mean(1)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    mean.iter().map(|v| v / norm).collect()
}

#[test]
fn matches_candles_bert() {
    let dir = tradeoff_assets::cache_dir().join("models/all-minilm-l6-v2");
    let emb = Embedder::load(&dir)
        .unwrap_or_else(|e| panic!("{e}: run `tradeoff models pull all-minilm-l6-v2`"));
    let long = "def f(x):\n    \"\"\"Return x squared, for every x in a list.\"\"\"\n".repeat(30);
    let texts = [
        "Write a function to reverse a string.",
        "def add(a: int, b: int) -> int:\n    \"\"\"Add two numbers.\n    >>> add(2, 3)\n    5\n    \"\"\"\n",
        "Find the shortest path in a weighted graph with Dijkstra's algorithm, recursively.",
        long.as_str(),
    ];
    let mut worst = 1f32;
    for text in texts {
        let a = emb.embed(text).unwrap();
        let b = reference(&dir, text);
        assert_eq!(a.len(), 384);
        let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        worst = worst.min(cos);
    }
    eprintln!("worst cosine vs candle's f32 BertModel: {worst:.6}");
    assert!(worst > 0.999, "worst cosine {worst}");
}
