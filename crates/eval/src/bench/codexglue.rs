//! CodeXGLUE code-to-code translation (Lu et al. 2021): Java ↔ C# methods from Lucene, POI,
//! JGit and Antlr, one per line (`codexglue-java-cs`, `codexglue-cs-java`). Scored by
//! similarity to the reference translation, not by execution: exact match per sample (the
//! samples' `score`), and over the corpus BLEU-4 and CodeBLEU with its four components
//! ([`tradeoff_codebleu`], agreeing with the codebleu 0.7.0 package), each with a bootstrap
//! interval over problems.
//!
//! Read from a CodeXGLUE `code-to-code-trans` folder (`data/test.java-cs.txt.java` and
//! `.cs`, 1000 aligned lines); nothing is copied. Both the translation and the reference are
//! lexed by the target language's grammar ([`tradeoff_codebleu::code_tokens`]) and rejoined
//! with single spaces before any score: CodeXGLUE's references are one line each, spaced as
//! their extraction left them (`out1){out1.WriteShort(`), and its evaluator splits on
//! whitespace, so a model that did not learn that layout would otherwise score near zero
//! BLEU for correct translations. Numbers are therefore not the published evaluator's.

use super::{
    data_err, read_to_string, Benchmark, Language, Measure, Program, ReferenceScorer, Scoring,
};
use crate::error::{Error, Result};
use crate::prompt::{self, Prompt, Style};
use crate::record::{DatasetRef, Metric, ProblemOutcome};
use std::path::{Path, PathBuf};
use tradeoff_codebleu::{Lang, Stats, Weights};

/// The split scored: CodeXGLUE's test split.
const SPLIT: &str = "test";

const INSTRUCT: &str = "Translate this {from} method into {to}.\n\n```{from_fence}\n{source}\n```\n\nAnswer with the {to} method only, in one ```{to_fence} block.";

/// `$TRADEOFF_CODEXGLUE`, else `../shared/data/codexglue-code-to-code-trans` from the
/// working directory.
pub fn default_codexglue_path() -> PathBuf {
    std::env::var_os("TRADEOFF_CODEXGLUE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/codexglue-code-to-code-trans"))
}

/// One translation direction over CodeXGLUE's test split.
#[derive(Debug)]
pub struct CodeXglue {
    name: String,
    from: Language,
    to: Language,
    dataset: DatasetRef,
    /// (task id, source method, reference translation).
    items: Vec<(String, String, String)>,
    exact: TokenExactMatch,
}

impl CodeXglue {
    /// Loads the test split from `root` (the `code-to-code-trans` folder or its `data/`),
    /// translating `from` (Java or C#) into the other language.
    pub fn load(root: &Path, from: Language) -> Result<Self> {
        let to = match from {
            Language::Java => Language::CSharp,
            Language::CSharp => Language::Java,
            other => {
                return Err(Error::Invalid(format!(
                    "CodeXGLUE translates between Java and C#, not {}",
                    other.display()
                )))
            }
        };
        let dir = [root.join("data"), root.to_path_buf()]
            .into_iter()
            .find(|d| d.join(format!("{SPLIT}.java-cs.txt.java")).is_file())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "CodeXGLUE data not found at {}: pass --data PATH/TO/code-to-code-trans \
                     (the folder holding data/{SPLIT}.java-cs.txt.java) or set \
                     TRADEOFF_CODEXGLUE",
                    root.display()
                ))
            })?;
        let file = |lang: Language| dir.join(format!("{SPLIT}.java-cs.txt.{}", lang.id()));
        let (source_path, target_path) = (file(from), file(to));
        let sources = read_lines(&source_path)?;
        let targets = read_lines(&target_path)?;
        if sources.len() != targets.len() {
            return Err(data_err(
                &target_path,
                targets.len().min(sources.len()) + 1,
                format!(
                    "{} lines here, {} in {}: the files must align",
                    targets.len(),
                    sources.len(),
                    source_path.display()
                ),
            ));
        }
        let name = format!("codexglue-{}-{}", from.id(), to.id());
        let dataset = DatasetRef {
            name: name.clone(),
            path: format!("{} + {}", source_path.display(), target_path.display()),
            sha256: tradeoff_assets::sha256_hex(
                format!(
                    "{} {}",
                    tradeoff_assets::sha256_file(&source_path)?,
                    tradeoff_assets::sha256_file(&target_path)?
                )
                .as_bytes(),
            ),
        };
        let items = sources
            .into_iter()
            .zip(targets)
            .enumerate()
            .map(|(i, (s, t))| (format!("CodeXGLUE/{SPLIT}/{i}"), s, t))
            .collect();
        Ok(Self {
            name,
            from,
            to,
            dataset,
            items,
            exact: TokenExactMatch { lang: lang(to) },
        })
    }

    /// The method problem `i` asks to translate.
    pub fn source(&self, i: usize) -> &str {
        &self.items[i].1
    }
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    Ok(read_to_string(path)?
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect())
}

fn lang(language: Language) -> Lang {
    match language {
        Language::CSharp => Lang::CSharp,
        Language::Cpp => Lang::Cpp,
        Language::Python => Lang::Python,
        Language::Java => Lang::Java,
    }
}

/// The code's tokens by the grammar, joined by single spaces. Parsing fails only when the
/// grammar cannot be loaded (never for the pinned ones); whitespace tokens then.
fn lexed(code: &str, lang: Lang) -> String {
    match tradeoff_codebleu::code_tokens(code, lang) {
        Ok(t) => t.join(" "),
        Err(_) => code.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// Whether a translated method parses in a class of its own (a grammar that cannot be loaded,
/// never the case for the pinned ones, counts as not).
fn syntax_ok(method: &str, to: Language) -> bool {
    !method.trim().is_empty()
        && tradeoff_codebleu::parses(&format!("class C {{\n{method}\n}}\n"), lang(to))
            .unwrap_or(false)
}

/// Exact match over the lexed tokens.
#[derive(Debug)]
struct TokenExactMatch {
    lang: Lang,
}

impl ReferenceScorer for TokenExactMatch {
    fn metric(&self) -> &str {
        "exact_match"
    }
    fn score(&self, output: &str, reference: &str, _language: &str) -> f64 {
        f64::from(lexed(output, self.lang) == lexed(reference, self.lang))
    }
}

impl Benchmark for CodeXglue {
    fn name(&self) -> &str {
        &self.name
    }
    fn language(&self) -> Language {
        self.to
    }
    fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }
    fn split(&self) -> Option<&str> {
        Some(SPLIT)
    }
    fn scoring(&self) -> Scoring {
        Scoring::Reference {
            metric: self.exact.metric().to_string(),
        }
    }
    fn scorer(&self) -> Option<&dyn ReferenceScorer> {
        Some(&self.exact)
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task_id(&self, i: usize) -> &str {
        &self.items[i].0
    }

    fn prompt(&self, i: usize, style: Style) -> Prompt {
        match style {
            Style::Base => Prompt::Completion {
                text: format!(
                    "// {}:\n{}\n\n// {}:\n",
                    self.from.display(),
                    self.source(i),
                    self.to.display()
                ),
                stop: vec!["\n\n".into(), "\n//".into()],
            },
            Style::Instruct => prompt::chat(
                self.to.display(),
                self.to.fence(),
                self.instruct().replace("{source}", self.source(i)),
            ),
        }
    }

    fn template(&self, style: Style) -> String {
        match style {
            Style::Base => format!(
                "// {}:\\n{{source}}\\n\\n// {}:\\n; stop: [\"\\n\\n\", \"\\n//\"]",
                self.from.display(),
                self.to.display()
            ),
            Style::Instruct => format!(
                "system: {}\nuser: {}\nassistant (prefill): ```{}\\n\nstop: [\"```\"]",
                prompt::QWEN_SYSTEM.replace("{language}", self.to.display()),
                self.instruct().replace('\n', "\\n"),
                self.to.fence()
            ),
        }
    }

    /// The answer's code (its fenced block, else all of it), blank lines around it dropped.
    fn solution(&self, _i: usize, _style: Style, answer: &str) -> String {
        prompt::extract_code(answer, "")
    }

    /// Never run (similarity-scored): the translation with no tests.
    fn program(&self, _i: usize, solution: &str) -> Program {
        Program {
            language: self.to,
            solution: solution.to_string(),
            tests: String::new(),
        }
    }

    fn reference(&self, i: usize) -> Option<String> {
        Some(self.items[i].2.clone())
    }

    /// 2: `syntax_ok` added.
    fn scoring_version(&self) -> u32 {
        2
    }

    /// `syntax_ok`: the share of a problem's samples whose method, put in a class of its own,
    /// parses without a syntax error by the target language's grammar: the compile check a
    /// method can have without the rest of its project (Lucene, POI, JGit, Antlr), whose types
    /// it names.
    fn extra_measures(
        &self,
        problems: &[ProblemOutcome],
        _before: &[Option<String>],
    ) -> Vec<Measure> {
        let per_problem = problems
            .iter()
            .filter(|p| !p.samples.is_empty())
            .map(|p| {
                let ok = p
                    .samples
                    .iter()
                    .filter(|s| syntax_ok(&s.program, self.to))
                    .count();
                ok as f64 / p.samples.len() as f64
            })
            .collect();
        vec![Measure {
            name: "syntax_ok".into(),
            per_problem,
            higher_is_better: true,
        }]
    }

    /// Corpus BLEU-4 and CodeBLEU (with components) over every sample, intervals from
    /// resampling problems.
    fn corpus_metrics(
        &self,
        problems: &[ProblemOutcome],
        bootstrap: usize,
        seed: u64,
    ) -> Vec<Metric> {
        match self.problem_stats(problems) {
            Ok(per) => corpus_metrics(&per, bootstrap, seed),
            Err(e) => {
                tracing::warn!("{}: CodeBLEU not computed: {e}", self.name);
                Vec::new()
            }
        }
    }
}

impl CodeXglue {
    fn instruct(&self) -> String {
        INSTRUCT
            .replace("{from}", self.from.display())
            .replace("{to}", self.to.display())
            .replace("{from_fence}", self.from.fence())
            .replace("{to_fence}", self.to.fence())
    }

    /// Each problem's samples' CodeBLEU statistics, summed.
    fn problem_stats(&self, problems: &[ProblemOutcome]) -> Result<Vec<Stats>> {
        let mut refs = Vec::new();
        let mut hyps = Vec::new();
        let mut owner = Vec::new();
        for (p, problem) in problems.iter().enumerate() {
            let i = self.index_of(&problem.task_id).ok_or_else(|| {
                Error::Invalid(format!("{}: unknown task {}", self.name, problem.task_id))
            })?;
            let reference = lexed(&self.items[i].2, lang(self.to));
            for s in &problem.samples {
                refs.push(reference.clone());
                hyps.push(lexed(&s.program, lang(self.to)));
                owner.push(p);
            }
        }
        if hyps.is_empty() {
            return Ok(Vec::new());
        }
        let stats = tradeoff_codebleu::stats(&refs, &hyps, lang(self.to))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut per = vec![Stats::default(); problems.len()];
        for (s, p) in stats.iter().zip(owner) {
            per[p].add(s);
        }
        Ok(per)
    }
}

/// Names of the corpus metrics, in the order [`corpus_values`] returns them.
const CORPUS_METRICS: [&str; 6] = [
    "bleu",
    "codebleu",
    "codebleu_ngram",
    "codebleu_weighted_ngram",
    "codebleu_syntax",
    "codebleu_dataflow",
];

fn corpus_values(total: &Stats) -> [f64; 6] {
    let c = total
        .codebleu(Weights::default())
        .expect("the default weights are finite");
    [
        total.bleu4(),
        c.codebleu,
        c.ngram_match,
        c.weighted_ngram_match,
        c.syntax_match,
        c.dataflow_match,
    ]
}

/// The corpus metrics of per-problem statistics, each with a percentile 95% interval over
/// `bootstrap` resamples of the problems (with replacement).
fn corpus_metrics(per: &[Stats], bootstrap: usize, seed: u64) -> Vec<Metric> {
    if per.is_empty() {
        return Vec::new();
    }
    let values = corpus_values(&Stats::sum(per));
    let mut draws: Vec<[f64; 6]> = Vec::with_capacity(bootstrap);
    let mut rng = SplitMix64(seed);
    for _ in 0..bootstrap {
        let mut total = Stats::default();
        for _ in 0..per.len() {
            total.add(&per[rng.below(per.len())]);
        }
        draws.push(corpus_values(&total));
    }
    CORPUS_METRICS
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let mut v: Vec<f64> = draws.iter().map(|d| d[m]).filter(|x| !x.is_nan()).collect();
            v.sort_by(f64::total_cmp);
            Metric {
                ci95: (!v.is_empty()).then(|| (quantile(&v, 0.025), quantile(&v, 0.975))),
                n: Some(per.len()),
                ..Metric::new(*name, values[m], true)
            }
        })
        .collect()
}

/// Linear interpolation between order statistics, as `passk::bootstrap_ci` takes them.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The generator `passk` resamples with, so intervals are as reproducible as its own.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_exact_match_ignores_layout_only() {
        let m = TokenExactMatch { lang: Lang::Java };
        assert_eq!(
            m.score("int f() {\n  return 1; }", "int f(){return 1;}", ""),
            1.0
        );
        assert_eq!(
            m.score("int f() { return 2; }", "int f() { return 1; }", ""),
            0.0
        );
        assert_eq!(m.score("", "x", ""), 0.0);
    }

    /// The codebleu 0.7.0 package's numbers for this pair (crates/codebleu/tests/pinned.rs),
    /// through the per-problem statistics and the bootstrap.
    #[test]
    fn corpus_metrics_give_the_packages_numbers() {
        let reference = "public override void WriteByte(byte b){if (upto == blockSize){upto = 0;}currentBlock[upto++] = b;}";
        let hypothesis = "public override void WriteByte(byte b){currentBlock[upto++] = b;}";
        let per = tradeoff_codebleu::stats(&[reference], &[hypothesis], Lang::CSharp).unwrap();
        let m = corpus_metrics(&per, 50, 1);
        let value = |name: &str| m.iter().find(|x| x.name == name).unwrap().value;
        assert!((value("codebleu") - 0.38616997915766244).abs() < 1e-12);
        assert!((value("bleu") - 0.23934818779838288).abs() < 1e-12);
        assert!((value("codebleu_syntax") - 0.5263157894736842).abs() < 1e-12);
        assert!((value("codebleu_dataflow") - 0.5).abs() < 1e-12);
        // One problem: every resample is that problem.
        let ci = m[1].ci95.unwrap();
        assert!((ci.0 - value("codebleu")).abs() < 1e-12 && (ci.1 - ci.0).abs() < 1e-12);
        assert!(corpus_metrics(&[], 50, 1).is_empty());
    }
}
