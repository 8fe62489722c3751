//! "Complete this function" benchmarks: HumanEval and the MultiPL-E translations (Python,
//! Java, C++, C#).

use super::{data_err, dataset_ref, read_to_string, Benchmark, Language, Program};
use crate::error::{io_err, Result};
use crate::prompt::{self, Prompt, Style};
use crate::record::DatasetRef;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

#[derive(Debug, Clone)]
struct Item {
    task_id: String,
    /// Imports, helpers and the open signature (with docstring or doc comment).
    prompt: String,
    entry_point: String,
    /// The test code that follows the solution (C-like: its leading close brace removed).
    tests: String,
    /// A whole reference solution.
    reference: Option<String>,
    stop: Vec<String>,
}

/// A function-completion benchmark.
#[derive(Debug)]
pub struct FunctionBench {
    name: String,
    language: Language,
    dataset: DatasetRef,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct HumanEvalRecord {
    task_id: String,
    prompt: String,
    canonical_solution: String,
    test: String,
    entry_point: String,
}

#[derive(Deserialize)]
struct MultiplERecord {
    name: String,
    prompt: String,
    tests: String,
    stop_tokens: Vec<String>,
}

impl FunctionBench {
    /// openai human-eval's `HumanEval.jsonl.gz` (or an uncompressed copy).
    pub fn humaneval(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(io_err(path))?;
        let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        let mut items = Vec::new();
        for (n, line) in reader.lines().enumerate() {
            let line = line.map_err(io_err(path))?;
            if line.trim().is_empty() {
                continue;
            }
            let r: HumanEvalRecord =
                serde_json::from_str(&line).map_err(|e| data_err(path, n + 1, e))?;
            items.push(Item {
                reference: Some(format!("{}{}", r.prompt, r.canonical_solution)),
                tests: format!("{}\ncheck({})\n", r.test, r.entry_point),
                task_id: r.task_id,
                prompt: r.prompt,
                entry_point: r.entry_point,
                stop: prompt::PYTHON_STOP.iter().map(|s| s.to_string()).collect(),
            });
        }
        Ok(Self {
            name: "humaneval".into(),
            language: Language::Python,
            dataset: dataset_ref("humaneval", path)?,
            items,
        })
    }

    /// A MultiPL-E file (JSON list of `name, language, prompt, tests, stop_tokens`).
    /// `mbpp` (the original MBPP jsonl) supplies reference solutions for MBPP-derived Python
    /// problems, which MultiPL-E does not ship.
    pub fn multipl_e(name: &str, path: &Path, mbpp: Option<&Path>) -> Result<Self> {
        let records: Vec<MultiplERecord> =
            serde_json::from_str(&read_to_string(path)?).map_err(|e| data_err(path, 1, e))?;
        let language = if name.ends_with("java") {
            Language::Java
        } else if name.ends_with("cpp") {
            Language::Cpp
        } else if name.ends_with("cs") {
            Language::CSharp
        } else {
            Language::Python
        };
        let mbpp_refs = match mbpp {
            Some(p) if language == Language::Python => super::mbpp::references(p)?,
            _ => HashMap::new(),
        };
        let mut items = Vec::new();
        for (n, r) in records.into_iter().enumerate() {
            let entry_point = signature_name(&r.prompt, language)
                .ok_or_else(|| data_err(path, n + 1, format!("{}: no signature", r.name)))?;
            let tests = match language {
                Language::Python => r.tests,
                Language::Cpp => strip_leading(&r.tests, "}"),
                Language::Java | Language::CSharp => strip_leading(&r.tests, "    }"),
            };
            let reference =
                mbpp_task_id(&r.name)
                    .and_then(|id| mbpp_refs.get(&id))
                    .map(|(code, called)| {
                        if called == &entry_point {
                            code.clone()
                        } else {
                            // MultiPL-E normalised some names (left_Rotate -> left_rotate).
                            format!("{code}\n\n{entry_point} = {called}\n")
                        }
                    });
            items.push(Item {
                task_id: r.name,
                prompt: r.prompt,
                entry_point,
                tests,
                reference,
                stop: r.stop_tokens,
            });
        }
        Ok(Self {
            name: name.to_string(),
            language,
            dataset: dataset_ref(name, path)?,
            items,
        })
    }
}

/// `mbpp_464_check_value` -> 464.
fn mbpp_task_id(name: &str) -> Option<u32> {
    name.strip_prefix("mbpp_")?.split('_').next()?.parse().ok()
}

fn strip_leading(tests: &str, close: &str) -> String {
    match tests.strip_prefix(close) {
        Some(rest) => rest.strip_prefix('\n').unwrap_or(rest).to_string(),
        None => tests.to_string(),
    }
}

/// The function name on the prompt's signature line (the last `def` for Python).
fn signature_name(prompt: &str, language: Language) -> Option<String> {
    let line = match language {
        Language::Python => prompt.lines().rev().find(|l| l.starts_with("def "))?,
        _ => prompt.lines().rev().find(|l| l.contains('('))?,
    };
    let before = &line[..line.find('(')?];
    let name = before
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then(|| name.to_string())
}

impl Benchmark for FunctionBench {
    fn name(&self) -> &str {
        &self.name
    }
    fn language(&self) -> Language {
        self.language
    }
    fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }
    fn len(&self) -> usize {
        self.items.len()
    }
    fn task_id(&self, i: usize) -> &str {
        &self.items[i].task_id
    }

    fn prompt(&self, i: usize, style: Style) -> Prompt {
        let it = &self.items[i];
        match style {
            Style::Base => Prompt::Completion {
                text: it.prompt.clone(),
                stop: it.stop.clone(),
            },
            Style::Instruct => prompt::complete_function_chat(
                self.language.display(),
                self.language.fence(),
                &it.prompt,
            ),
        }
    }

    fn template(&self, style: Style) -> String {
        match style {
            Style::Base => format!(
                "{{prompt}} (the problem's prompt verbatim); stop: {:?}",
                self.items
                    .first()
                    .map(|i| i.stop.clone())
                    .unwrap_or_default()
            ),
            Style::Instruct => {
                prompt::complete_function_template(self.language.display(), self.language.fence())
            }
        }
    }

    fn solution(&self, i: usize, _style: Style, answer: &str) -> String {
        let it = &self.items[i];
        let code = prompt::extract_code(answer, &it.entry_point);
        match self.language {
            Language::Python => prompt::assemble_python(&it.prompt, &code, &it.entry_point),
            Language::Java => prompt::assemble_java(&it.prompt, &code, &it.entry_point),
            Language::Cpp => prompt::assemble_cpp(&it.prompt, &code, &it.entry_point),
            Language::CSharp => prompt::assemble_cs(&it.prompt, &code, &it.entry_point),
        }
    }

    fn program(&self, i: usize, solution: &str) -> Program {
        Program {
            language: self.language,
            solution: solution.to_string(),
            tests: self.items[i].tests.clone(),
        }
    }

    fn reference(&self, i: usize) -> Option<String> {
        self.items[i].reference.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_names() {
        let java = "class Problem {\n    // f(x)\n    public static long sumTo(long n) {\n";
        assert_eq!(signature_name(java, Language::Java).unwrap(), "sumTo");
        let cpp = "#include<assert.h>\n// >>> g(1)\nstd::vector<long> by_length(std::vector<long> arr) {\n";
        assert_eq!(signature_name(cpp, Language::Cpp).unwrap(), "by_length");
        let py =
            "def helper(x):\n    return x\n\ndef main_fn(a: int) -> int:\n    \"\"\"doc(1)\"\"\"\n";
        assert_eq!(signature_name(py, Language::Python).unwrap(), "main_fn");
        assert_eq!(mbpp_task_id("mbpp_464_check_value"), Some(464));
        assert_eq!(strip_leading("    }\n    main", "    }"), "    main");
    }
}
