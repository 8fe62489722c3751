//! Engine logic on tiny random models written by the tests themselves.

use candle_core::quantized::GgmlDType;
use candle_core::Tensor;
use tradeoff_engine::testing::{write_tiny_gguf, write_tiny_hf, TinySpec};
use tradeoff_engine::{
    Arch, ChatMessage, Engine, FinishReason, GenParams, GenRequest, Hook, LoadOptions, LocalEngine,
    ModelPath, Segment, Site,
};

fn engine(arch: Arch, dtype: GgmlDType) -> (tempfile::TempDir, LocalEngine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    let mut spec = TinySpec::new(arch);
    spec.dtype = dtype;
    write_tiny_gguf(&path, &spec).unwrap();
    let e = LocalEngine::load(&ModelPath::Gguf(path), LoadOptions::default()).unwrap();
    (dir, e)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

const TOKENS: [u32; 12] = [10, 200, 33, 45, 100, 7, 256, 99, 3, 250, 17, 64];

#[test]
fn kv_cache_decode_matches_full_forward() {
    for arch in [Arch::Llama, Arch::Qwen2] {
        let (_d, e) = engine(arch, GgmlDType::F32);
        let m = &e.model;
        let full = m.logits_all(&TOKENS, None).unwrap();
        let mut cache = m.new_cache();
        // Prefill 5 tokens, then decode one at a time.
        let mut rows = vec![m
            .forward(
                &mut [Segment {
                    tokens: &TOKENS[..5],
                    cache: &mut cache,
                    all_logits: true,
                }],
                None,
            )
            .unwrap()];
        for t in &TOKENS[5..] {
            rows.push(
                m.forward(
                    &mut [Segment {
                        tokens: std::slice::from_ref(t),
                        cache: &mut cache,
                        all_logits: false,
                    }],
                    None,
                )
                .unwrap(),
            );
        }
        let inc = Tensor::cat(&rows, 0).unwrap();
        assert_eq!(inc.dims(), full.dims());
        let d = max_abs_diff(&inc, &full);
        assert!(
            d < 1e-4,
            "{arch:?}: incremental vs full logits differ by {d}"
        );
        assert_eq!(cache.len(), TOKENS.len());
    }
}

#[test]
fn segments_in_one_batch_do_not_interact() {
    let (_d, e) = engine(Arch::Qwen2, GgmlDType::Q8_0);
    let m = &e.model;
    let a = m.logits_all(&TOKENS[..7], None).unwrap();
    let b = m.logits_all(&TOKENS[3..], None).unwrap();
    let (mut ca, mut cb) = (m.new_cache(), m.new_cache());
    let both = m
        .forward(
            &mut [
                Segment {
                    tokens: &TOKENS[..7],
                    cache: &mut ca,
                    all_logits: true,
                },
                Segment {
                    tokens: &TOKENS[3..],
                    cache: &mut cb,
                    all_logits: true,
                },
            ],
            None,
        )
        .unwrap();
    let d1 = max_abs_diff(&both.narrow(0, 0, 7).unwrap(), &a);
    let d2 = max_abs_diff(&both.narrow(0, 7, 9).unwrap(), &b);
    assert!(d1 < 1e-3 && d2 < 1e-3, "batched vs alone: {d1} {d2}");
}

#[test]
fn safetensors_folder_matches_gguf() {
    for arch in [Arch::Llama, Arch::Qwen2] {
        let dir = tempfile::tempdir().unwrap();
        let spec = TinySpec::new(arch);
        let g = dir.path().join("m.gguf");
        write_tiny_gguf(&g, &spec).unwrap();
        let hf = dir.path().join("hf");
        write_tiny_hf(&hf, &spec).unwrap();
        let eg = LocalEngine::load(&ModelPath::Gguf(g), LoadOptions::default()).unwrap();
        let eh = LocalEngine::load(&ModelPath::HfDir(hf), LoadOptions::default()).unwrap();
        assert_eq!(eg.model.tied, eh.model.tied);
        let text = "def f(x):\n    return x + 1  # ünïcode";
        let ids = eg.tokenizer.encode(text).unwrap();
        assert_eq!(
            ids,
            eh.tokenizer.encode(text).unwrap(),
            "{arch:?}: tokenizers disagree"
        );
        let d = max_abs_diff(
            &eg.model.logits_all(&ids, None).unwrap(),
            &eh.model.logits_all(&ids, None).unwrap(),
        );
        assert!(
            d < 1e-4,
            "{arch:?}: GGUF vs safetensors logits differ by {d}"
        );
    }
}

#[test]
fn quantized_types_stay_close_to_f32() {
    let (_d, f) = engine(Arch::Llama, GgmlDType::F32);
    let reference = f.model.logits_all(&TOKENS, None).unwrap();
    let mut errs = Vec::new();
    let scale = reference
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    for (dtype, tol) in [
        (GgmlDType::F16, 0.005),
        (GgmlDType::Q8_0, 0.06),
        (GgmlDType::Q4K, 0.4),
    ] {
        let (_d, q) = engine(Arch::Llama, dtype);
        let d = max_abs_diff(&q.model.logits_all(&TOKENS, None).unwrap(), &reference) / scale;
        assert!(
            d < tol,
            "{dtype:?}: logits differ from f32 by {d} of their range"
        );
        errs.push(d);
    }
    assert!(
        errs[0] < errs[1] && errs[1] < errs[2],
        "error must grow as bits shrink: {errs:?}"
    );
}

#[test]
fn f16_weights_run_in_place_and_match_their_f32_expansion() {
    let (d, e) = engine(Arch::Qwen2, GgmlDType::F16);
    let wide = LocalEngine::load(
        &ModelPath::Gguf(d.path().join("tiny.gguf")),
        LoadOptions {
            dequantize: true,
            ..Default::default()
        },
    )
    .unwrap();
    let a = e.model.logits_all(&TOKENS, None).unwrap();
    let b = wide.model.logits_all(&TOKENS, None).unwrap();
    let scale = b
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let diff = max_abs_diff(&a, &b) / scale;
    assert!(diff < 1e-5, "same weights, f32 sums: {diff} of the range");
}

#[derive(Default)]
struct Recorder {
    seen: Vec<(usize, Site, Vec<usize>)>,
    layers: Vec<usize>,
}

impl Hook for Recorder {
    fn linear_input(
        &mut self,
        layer: usize,
        site: Site,
        x: &Tensor,
    ) -> tradeoff_engine::Result<()> {
        self.seen.push((layer, site, x.dims().to_vec()));
        Ok(())
    }
    fn layer_io(&mut self, layer: usize, i: &Tensor, o: &Tensor) -> tradeoff_engine::Result<()> {
        assert_eq!(i.dims(), o.dims());
        self.layers.push(layer);
        Ok(())
    }
}

#[test]
fn hooks_see_every_linear_input_and_removed_layers_are_skipped() {
    let (_d, mut e) = engine(Arch::Qwen2, GgmlDType::F32);
    let mut rec = Recorder::default();
    let before = e.model.logits_all(&TOKENS, Some(&mut rec)).unwrap();
    assert_eq!(rec.layers, vec![0, 1, 2]);
    assert_eq!(rec.seen.len(), 3 * 4);
    assert!(rec
        .seen
        .contains(&(1, Site::MlpDown, vec![TOKENS.len(), 512])));
    assert!(rec
        .seen
        .contains(&(2, Site::AttnIn, vec![TOKENS.len(), 256])));
    e.model.remove_layers(&[1]);
    let mut rec = Recorder::default();
    let after = e.model.logits_all(&TOKENS, Some(&mut rec)).unwrap();
    assert_eq!(
        rec.layers,
        vec![0, 2],
        "layer ids keep their original numbers"
    );
    assert!(
        max_abs_diff(&before, &after) > 1e-3,
        "dropping a layer changed nothing"
    );
}

/// Keeps the output of the last layer a forward pass ran.
#[derive(Default)]
struct LastOutput(Option<Tensor>);

impl Hook for LastOutput {
    fn layer_io(&mut self, _l: usize, _i: &Tensor, o: &Tensor) -> tradeoff_engine::Result<()> {
        self.0 = Some(o.clone());
        Ok(())
    }
}

#[test]
fn layer_by_layer_matches_the_full_forward() {
    for arch in [Arch::Llama, Arch::Qwen2] {
        let (_d, e) = engine(arch, GgmlDType::F32);
        let mut last = LastOutput::default();
        e.model.logits_all(&TOKENS, Some(&mut last)).unwrap();
        let mut x = e.model.embed_tokens(&TOKENS).unwrap();
        for li in 0..e.model.layers.len() {
            x = e.model.layer_alone(li, x, None).unwrap();
        }
        let d = max_abs_diff(&x, &last.0.unwrap());
        assert_eq!(d, 0.0, "{arch:?}: layer by layer differs by {d}");
    }
}

fn greedy(max: usize) -> GenParams {
    GenParams {
        max_new_tokens: max,
        ..GenParams::default()
    }
}

#[test]
fn greedy_generation_is_the_argmax_chain_and_batching_preserves_it() {
    let (_d, mut e) = engine(Arch::Llama, GgmlDType::Q8_0);
    let prompt = "def f(x):";
    let ids = e.tokenizer.encode(prompt).unwrap();
    // Reference: argmax over full forward passes, no cache.
    let mut seq = ids.clone();
    let mut want = Vec::new();
    for _ in 0..8 {
        let l = e.model.logits_all(&seq, None).unwrap();
        let last = l.get(seq.len() - 1).unwrap().to_vec1::<f32>().unwrap();
        let t = tradeoff_engine::sampler::argmax(&last);
        if e.tokenizer.is_eos(t) {
            break;
        }
        want.push(t);
        seq.push(t);
    }
    let want_text = e.tokenizer.decode(&want).unwrap();
    let g = e
        .generate(
            &GenRequest::new(prompt, greedy(want.len())),
            &mut |_, _, _| {},
        )
        .unwrap();
    assert_eq!(g.samples[0].text, want_text);
    assert_eq!(g.timing.prompt_tokens, ids.len());
    // The same request inside a batch of others, with continuous batching.
    let reqs: Vec<GenRequest> = ["x", prompt, "return 1", "class A:"]
        .iter()
        .enumerate()
        .map(|(i, p)| GenRequest::new(*p, greedy(if i == 1 { want.len() } else { 3 + i })))
        .collect();
    e.opts.max_batch = Some(2);
    let mut got = vec![None; reqs.len()];
    e.generate_many(&reqs, &mut |i, g| got[i] = Some(g.unwrap()))
        .unwrap();
    assert_eq!(got[1].as_ref().unwrap().samples[0].text, want_text);
    assert!(got.iter().all(|g| g.is_some()));
}

#[test]
fn drafts_leave_greedy_output_unchanged() {
    let (_d, mut e) = engine(Arch::Qwen2, GgmlDType::Q4_0);
    // A short context, so that some sequences end at it: drafts must not end them sooner.
    e.model.cfg.context_length = 48;
    let reqs: Vec<GenRequest> = ["def f(x):", "abc abc abc", "return 1", "x = [1, 2, 3]"]
        .iter()
        .enumerate()
        .map(|(i, p)| GenRequest::new(*p, greedy(30 + 7 * i)))
        .collect();
    let mut texts = Vec::new();
    for drafts in [0, 8] {
        e.opts.drafts = drafts;
        e.opts.max_batch = Some(3);
        let mut got = vec![(String::new(), None); reqs.len()];
        e.generate_many(&reqs, &mut |i, g| {
            let s = &g.unwrap().samples[0];
            got[i] = (s.text.clone(), Some(s.finish));
        })
        .unwrap();
        texts.push(got);
    }
    assert_eq!(texts[0], texts[1]);
    assert!(texts[0].iter().any(|t| t.1 == Some(FinishReason::Context)));
}

#[test]
fn shared_prompt_prefixes_leave_greedy_output_unchanged() {
    let (_d, mut e) = engine(Arch::Qwen2, GgmlDType::Q4_0);
    let shared = "def shared(values, threshold):\n    \"\"\"Return the items above it.\"\"\"\n";
    let reqs: Vec<GenRequest> = ["    return", "    out = []", "x", "    return"]
        .iter()
        .enumerate()
        .map(|(i, tail)| {
            let prompt = if i == 2 {
                tail.to_string()
            } else {
                format!("{shared}{tail}")
            };
            GenRequest::new(prompt, greedy(6 + i))
        })
        .collect();
    let alone: Vec<String> = reqs
        .iter()
        .map(|r| {
            e.generate(r, &mut |_, _, _| {}).unwrap().samples[0]
                .text
                .clone()
        })
        .collect();
    // Prompts prefilled whole or a few tokens per pass, two or all at once.
    for (chunk, batch) in [(512, 4), (512, 2), (7, 4)] {
        e.opts.prefill_chunk = chunk;
        e.opts.max_batch = Some(batch);
        let mut got = vec![(String::new(), 0); reqs.len()];
        e.generate_many(&reqs, &mut |i, g| {
            let g = g.unwrap();
            got[i] = (g.samples[0].text.clone(), g.timing.cached_tokens);
        })
        .unwrap();
        let texts: Vec<String> = got.iter().map(|g| g.0.clone()).collect();
        assert_eq!(texts, alone, "chunk {chunk}, batch {batch}");
        assert_eq!(got[0].1, 0, "the first prompt has nothing to copy");
        assert_eq!(got[2].1, 0, "the unrelated prompt shares nothing");
        let n = e.tokenizer.encode(shared).unwrap().len();
        assert!(got[1].1 >= n - 1, "{got:?}: {n} shared tokens");
        // The identical prompt copies all but its last token (whose logits it needs).
        let all = e.tokenizer.encode(&reqs[3].prompt).unwrap().len();
        assert_eq!(got[3].1, all - 1, "chunk {chunk}, batch {batch}");
    }
}

#[test]
fn sampling_is_reproducible_per_seed_and_samples_differ() {
    let (_d, mut e) = engine(Arch::Qwen2, GgmlDType::Q4_0);
    let p = GenParams {
        max_new_tokens: 12,
        temperature: 1.0,
        top_k: Some(50),
        top_p: Some(0.95),
        seed: 42,
        stop: vec![],
        ignore_eos: false,
    };
    let req = GenRequest {
        prompt: "abc".into(),
        params: p.clone(),
        n: 4,
    };
    let a = e.generate(&req, &mut |_, _, _| {}).unwrap();
    let b = e.generate(&req, &mut |_, _, _| {}).unwrap();
    let ta: Vec<&str> = a.samples.iter().map(|s| s.text.as_str()).collect();
    let tb: Vec<&str> = b.samples.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(ta, tb, "same seed, same samples");
    assert!(
        ta.iter().any(|t| *t != ta[0]),
        "4 samples at T=1 were all identical: {ta:?}"
    );
    // Sample i uses seed+i: a single request with seed 43 reproduces sample 1.
    let one = GenRequest {
        prompt: "abc".into(),
        params: GenParams { seed: 43, ..p },
        n: 1,
    };
    assert_eq!(
        e.generate(&one, &mut |_, _, _| {}).unwrap().samples[0].text,
        ta[1]
    );
}

#[test]
fn stop_strings_cut_the_text_and_streaming_matches_the_result() {
    let (_d, mut e) = engine(Arch::Llama, GgmlDType::F32);
    let free = e
        .generate(&GenRequest::new("def", greedy(24)), &mut |_, _, _| {})
        .unwrap();
    let text = &free.samples[0].text;
    assert!(text.chars().count() >= 6, "need some text to cut: {text:?}");
    // A stop string taken from the middle of the free-running output.
    let start = text.char_indices().nth(3).unwrap().0;
    let end = text.char_indices().nth(5).unwrap().0;
    let stop = text[start..end].to_string();
    let cut = text.find(&stop).unwrap();
    let mut streamed = String::new();
    let req = GenRequest::new(
        "def",
        GenParams {
            stop: vec![stop.clone()],
            ..greedy(24)
        },
    );
    let g = e
        .generate(&req, &mut |_, _, t| streamed.push_str(t))
        .unwrap();
    assert_eq!(g.samples[0].text, text[..cut]);
    assert_eq!(g.samples[0].finish, FinishReason::Stop);
    assert_eq!(
        streamed, g.samples[0].text,
        "streamed text must equal the final text"
    );
}

#[test]
fn chat_template_renders_with_generation_prompt() {
    let (_d, e) = engine(Arch::Qwen2, GgmlDType::F32);
    let s = e
        .render_chat(
            &[
                ChatMessage::new("system", "S"),
                ChatMessage::new("user", "U"),
            ],
            true,
        )
        .unwrap();
    assert_eq!(
        s,
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = e.tokenizer.encode(&s).unwrap();
    let im_start = e.tokenizer.token_to_id("<|im_start|>").unwrap();
    assert_eq!(
        ids.iter().filter(|&&t| t == im_start).count(),
        3,
        "special tokens are single ids"
    );
    assert_eq!(e.tokenizer.decode(&ids).unwrap(), s);
}

#[test]
fn bad_model_files_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    write_tiny_gguf(&good, &TinySpec::new(Arch::Llama)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let load = |p: &std::path::Path| {
        LocalEngine::load(&ModelPath::Gguf(p.to_path_buf()), LoadOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let m = load(&truncated);
    assert!(
        m.contains("truncated.gguf") && m.contains("truncated"),
        "{m}"
    );

    let corrupt = dir.path().join("corrupt.gguf");
    let mut c = bytes.clone();
    c[..4].copy_from_slice(b"NOPE");
    std::fs::write(&corrupt, &c).unwrap();
    let m = load(&corrupt);
    assert!(
        m.contains("corrupt.gguf") && m.contains("not a valid GGUF"),
        "{m}"
    );

    let missing = LocalEngine::open(
        dir.path().join("nope.gguf").to_str().unwrap(),
        LoadOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        missing.contains("nope.gguf") && missing.contains("not a catalog model"),
        "{missing}"
    );

    // A model without one of its tensors, and one of an unknown architecture.
    let spec = TinySpec::new(Arch::Llama);
    let tensors = || -> Vec<_> {
        tradeoff_engine::testing::tiny_tensors(&spec)
            .unwrap()
            .into_iter()
            .filter(|(n, _)| n != "blk.1.ffn_up.weight")
            .map(|(n, t)| {
                (
                    n,
                    candle_core::quantized::QTensor::quantize(&t, GgmlDType::F32).unwrap(),
                )
            })
            .collect()
    };
    let md = tradeoff_engine::testing::tiny_metadata(&spec);
    let p = dir.path().join("missing-tensor.gguf");
    tradeoff_engine::gguf::write(&p, &md, tensors()).unwrap();
    let m = load(&p);
    assert!(
        m.contains("missing-tensor.gguf") && m.contains("blk.1.ffn_up.weight"),
        "{m}"
    );

    let mut md = md;
    md[0].1 = candle_core::quantized::gguf_file::Value::String("mamba".into());
    let p = dir.path().join("arch.gguf");
    tradeoff_engine::gguf::write(&p, &md, tensors()).unwrap();
    let m = load(&p);
    assert!(
        m.contains("arch.gguf") && m.contains("unsupported architecture 'mamba'"),
        "{m}"
    );
}

#[test]
fn one_scheduler_serves_many_clients_as_the_engine_would() {
    fn shared<T: Send + Sync>(_: &T) {}
    let prompts = [
        "x",
        "def f(x):",
        "return 1",
        "class A:",
        "import os",
        "a = [",
        "for i in",
        "#",
    ];
    let (_d, mut e) = engine(Arch::Qwen2, GgmlDType::Q8_0);
    let want: Vec<String> = prompts
        .iter()
        .map(|p| {
            e.generate(&GenRequest::new(*p, greedy(10)), &mut |_, _, _| {})
                .unwrap()
                .samples[0]
                .text
                .clone()
        })
        .collect();
    e.opts.max_batch = Some(3);
    let sched = std::sync::Arc::new(tradeoff_engine::Scheduler::spawn(e, 10).unwrap());
    shared(&*sched);
    // Eight clients at once, each streaming: they share one batch of three.
    let got: Vec<(String, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = prompts
            .iter()
            .map(|p| {
                let sched = sched.clone();
                s.spawn(move || {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let req = GenRequest::new(*p, greedy(10));
                    sched
                        .submit(req, Box::new(move |ev| tx.send(ev).is_ok()))
                        .unwrap();
                    let mut streamed = String::new();
                    for ev in rx {
                        match ev {
                            tradeoff_engine::Event::Text { text, .. } => streamed.push_str(&text),
                            tradeoff_engine::Event::Done(g) => {
                                return (streamed, g.unwrap().samples[0].text.clone())
                            }
                        }
                    }
                    panic!("no result");
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((streamed, text), w) in got.iter().zip(&want) {
        assert_eq!(text, w, "a shared batch must not change greedy output");
        assert_eq!(streamed, text, "streamed text equals the result");
    }
    // A client that leaves cancels its request; the batch goes on serving others.
    let (tx, rx) = std::sync::mpsc::channel();
    sched
        .submit(
            GenRequest::new("def", greedy(10_000)),
            Box::new(move |ev| {
                let _ = tx.send(());
                !matches!(ev, tradeoff_engine::Event::Text { .. })
            }),
        )
        .unwrap();
    rx.recv().unwrap();
    // The blocking facade over the same batch.
    let mut handle = std::sync::Arc::try_unwrap(sched)
        .ok()
        .expect("one handle left");
    let g = handle
        .generate(&GenRequest::new(prompts[1], greedy(10)), &mut |_, _, _| {})
        .unwrap();
    assert_eq!(g.samples[0].text, want[1]);
}
