//! The distill recipe end to end on tiny models: a one-layer student learns from a three-layer
//! teacher with the same vocabulary on answer documents, its manifest names every document,
//! and documents from evaluated problems are refused before anything runs.

use candle_core::quantized::GgmlDType;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::Arch;
use tradeoff_train::data::Doc;
use tradeoff_train::{distill, DocsOptions, Error, HealRecipe};

const RECIPE: &str = r#"
name = "distill-tiny"
[lora]
r = 4
alpha = 8
[optim]
lr = 0.01
warmup = 1
[train]
tokens = 256
seq = 32
batch = 2
eval_every = 2
val_windows = 2
[distill]
top_k = 16
"#;

fn docs(ids: &[u32]) -> Vec<Doc> {
    ids.iter()
        .map(|id| Doc {
            id: format!("Mbpp/{id}"),
            text: format!(
                "Write a function that adds {id}.\n```python\ndef add_{id}(x):\n    return x + {id}\n```\n"
            ),
        })
        .collect()
}

#[test]
fn a_small_student_gets_closer_to_a_larger_teacher_on_answer_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, student) = (dir.path().join("t.gguf"), dir.path().join("s.gguf"));
    let mut spec = TinySpec::new(Arch::Qwen2);
    write_tiny_gguf(&teacher, &spec).unwrap();
    spec.n_layer = 1;
    spec.seed = 8;
    // Quantized: its exact zeros are rounding, not pruning, and must stay trainable.
    spec.dtype = GgmlDType::Q4_0;
    write_tiny_gguf(&student, &spec).unwrap();
    let recipe = HealRecipe::from_toml(RECIPE, "test").unwrap();
    let d = docs(&(600..640).collect::<Vec<_>>());
    let out = dir.path().join("out");
    let teacher = teacher.to_str().unwrap();
    let opts = |docs| DocsOptions {
        student: student.to_str().unwrap(),
        docs,
        docs_source: "test answers",
        recipe: &recipe,
        out_dir: &out,
        seed: 0,
        progress: false,
    };
    let m = distill(teacher, &opts(&d)).unwrap();
    assert_eq!(
        m.trainer_version,
        format!("{}.distill", tradeoff_train::recipe::VERSION)
    );
    assert_eq!(m.steps, 4);
    assert_eq!(m.masked_linears, 0);
    let (first, last) = (&m.history.evals[0], m.history.evals.last().unwrap());
    let kl = |e: &tradeoff_train::trainer::EvalPoint| e.teacher.unwrap().kl;
    assert!(kl(last) < kl(first), "val KL {} → {}", kl(first), kl(last));
    assert_eq!(m.data.documents.len(), 40);
    assert!(
        m.data.name.starts_with("test answers + "),
        "{}",
        m.data.name
    );
    assert!(
        m.data
            .checks
            .iter()
            .any(|c| c.contains("training windows of answers")),
        "{:?}",
        m.data.checks
    );
    assert!(out.join("model.gguf").exists() && out.join("adapter").exists());

    let mut leaked = d.clone();
    leaked.extend(docs(&[100]));
    let e = distill(teacher, &opts(&leaked)).unwrap_err();
    assert!(matches!(e, Error::Contaminated(_)), "{e}");
}

#[test]
fn sft_lowers_the_answers_cross_entropy_without_a_teacher() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.gguf");
    let mut spec = TinySpec::new(Arch::Llama);
    spec.n_layer = 1;
    write_tiny_gguf(&model, &spec).unwrap();
    let d = docs(&(700..740).collect::<Vec<_>>());
    let with_alpha = |alpha: f64| {
        HealRecipe::from_toml(
            &format!("{RECIPE}alpha = {alpha}\n")
                .replace("name = \"distill-tiny\"", "name = \"sft-tiny\""),
            "test",
        )
        .unwrap()
    };
    let run = |recipe: &HealRecipe| {
        tradeoff_train::sft(&DocsOptions {
            student: model.to_str().unwrap(),
            docs: &d,
            docs_source: "reference answers",
            recipe,
            out_dir: &dir.path().join("out"),
            seed: 0,
            progress: false,
        })
    };
    let m = run(&with_alpha(0.0)).unwrap();
    assert_eq!(m.teacher, None);
    assert_eq!(
        m.trainer_version,
        format!("{}.sft", tradeoff_train::recipe::VERSION)
    );
    let (first, last) = (&m.history.evals[0], m.history.evals.last().unwrap());
    assert!(first.teacher.is_none());
    assert!(last.ce < first.ce, "val CE {} → {}", first.ce, last.ce);
    let e = run(&with_alpha(0.5)).unwrap_err();
    assert!(e.to_string().contains("distill.alpha = 0"), "{e}");
}
