//! MBPP (Austin et al. 2021): 974 problems, a description and three asserts each.

use super::{data_err, dataset_ref, Benchmark, Language, Program};
use crate::error::{io_err, Result};
use crate::prompt::{self, Prompt, Style};
use crate::record::DatasetRef;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The standard split by task id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbppSplit {
    /// 1-10: the few-shot examples.
    Prompt,
    /// 11-510.
    Test,
    /// 511-600.
    Validation,
    /// 601-974.
    Train,
    All,
}

impl MbppSplit {
    pub fn as_str(self) -> &'static str {
        match self {
            MbppSplit::Prompt => "prompt",
            MbppSplit::Test => "test",
            MbppSplit::Validation => "validation",
            MbppSplit::Train => "train",
            MbppSplit::All => "all",
        }
    }
    fn contains(self, id: u32) -> bool {
        match self {
            MbppSplit::Prompt => (1..=10).contains(&id),
            MbppSplit::Test => (11..=510).contains(&id),
            MbppSplit::Validation => (511..=600).contains(&id),
            MbppSplit::Train => (601..=974).contains(&id),
            MbppSplit::All => true,
        }
    }
}

impl std::str::FromStr for MbppSplit {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "prompt" => MbppSplit::Prompt,
            "test" => MbppSplit::Test,
            "validation" => MbppSplit::Validation,
            "train" => MbppSplit::Train,
            "all" | "full" => MbppSplit::All,
            _ => {
                return Err(format!(
                    "unknown MBPP split '{s}' (test, validation, train, prompt, all)"
                ))
            }
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Record {
    text: String,
    code: String,
    task_id: u32,
    #[serde(default)]
    test_setup_code: String,
    test_list: Vec<String>,
}

#[derive(Debug)]
struct Item {
    task_id: String,
    text: String,
    code: String,
    setup: String,
    tests: Vec<String>,
    /// The function the tests call.
    entry_point: String,
}

/// MBPP from the original jsonl.
#[derive(Debug)]
pub struct Mbpp {
    dataset: DatasetRef,
    split: MbppSplit,
    items: Vec<Item>,
    /// Tasks 2, 3, 4 as few-shot examples for base models (the customary choice).
    shots: Vec<Item>,
}

/// Task ids of the few-shot examples.
const SHOTS: [u32; 3] = [2, 3, 4];

const BASE_TEMPLATE: &str = "You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n{tests}\n[BEGIN]\n";

fn read_records(path: &Path) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| data_err(path, n + 1, e))?);
    }
    Ok(out)
}

fn item(r: Record) -> Item {
    let code = r.code.replace("\r\n", "\n");
    let entry_point = called_function(&code, &r.test_list).unwrap_or_default();
    Item {
        task_id: format!("Mbpp/{}", r.task_id),
        text: r.text,
        code,
        setup: r.test_setup_code.replace("\r\n", "\n"),
        tests: r.test_list,
        entry_point,
    }
}

/// The last function the code defines at top level that the tests call.
fn called_function(code: &str, tests: &[String]) -> Option<String> {
    let tests = tests.join("\n");
    code.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("def "))
        .filter_map(|rest| {
            let name = rest[..rest.find('(')?].trim();
            tests
                .contains(&format!("{name}("))
                .then(|| name.to_string())
        })
        .next()
}

/// MBPP reference code by task id, with the name of the function its tests call.
pub(crate) fn references(path: &Path) -> Result<HashMap<u32, (String, String)>> {
    Ok(read_records(path)?
        .into_iter()
        .filter_map(|r| {
            let id = r.task_id;
            let it = item(r);
            (!it.entry_point.is_empty()).then_some((id, (it.code, it.entry_point)))
        })
        .collect())
}

impl Mbpp {
    pub fn load(path: &Path, split: MbppSplit) -> Result<Self> {
        let records = read_records(path)?;
        let shots = records
            .iter()
            .filter(|r| SHOTS.contains(&r.task_id))
            .cloned()
            .map(item)
            .collect();
        let items = records
            .into_iter()
            .filter(|r| split.contains(r.task_id))
            .map(item)
            .collect();
        Ok(Self {
            dataset: dataset_ref("mbpp", path)?,
            split,
            items,
            shots,
        })
    }

    fn describe(it: &Item) -> String {
        BASE_TEMPLATE
            .replace("{text}", &it.text)
            .replace("{tests}", &it.tests.join("\n"))
    }
}

impl Benchmark for Mbpp {
    fn name(&self) -> &str {
        "mbpp"
    }
    fn language(&self) -> Language {
        Language::Python
    }
    fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }
    fn split(&self) -> Option<&str> {
        Some(self.split.as_str())
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
            Style::Base => {
                let mut text: String = self
                    .shots
                    .iter()
                    .map(|s| format!("{}{}\n[DONE]\n", Self::describe(s), s.code.trim_end()))
                    .collect();
                text.push_str(&Self::describe(it));
                Prompt::Completion {
                    text,
                    stop: vec!["[DONE]".into()],
                }
            }
            Style::Instruct => prompt::chat(
                "Python",
                "python",
                format!(
                    "{}\nYour code should pass these tests:\n\n{}",
                    it.text,
                    it.tests.join("\n")
                ),
            ),
        }
    }

    fn template(&self, style: Style) -> String {
        match style {
            Style::Base => format!(
                "3-shot (tasks 2, 3, 4), each: {BASE_TEMPLATE}{{code}}\\n[DONE]\\n; then the task's; stop: [\"[DONE]\"]"
            ),
            Style::Instruct => format!(
                "system: {}\nuser: {{text}}\\nYour code should pass these tests:\\n\\n{{tests}}\nassistant (prefill): ```python\\n\nstop: [\"```\"]",
                prompt::QWEN_SYSTEM.replace("{language}", "Python")
            ),
        }
    }

    fn solution(&self, i: usize, _style: Style, answer: &str) -> String {
        let answer = answer.replace("[BEGIN]", "").replace("[DONE]", "");
        format!(
            "{}\n",
            prompt::extract_code(&answer, &self.items[i].entry_point)
        )
    }

    fn program(&self, i: usize, solution: &str) -> Program {
        let it = &self.items[i];
        Program {
            language: Language::Python,
            solution: solution.to_string(),
            tests: format!("{}\n{}\n", it.setup, it.tests.join("\n")),
        }
    }

    fn reference(&self, i: usize) -> Option<String> {
        Some(format!("{}\n", self.items[i].code))
    }

    /// Accepts 11, "11", "Mbpp/11" and "MBPP/11".
    fn index_of(&self, task_id: &str) -> Option<usize> {
        let id = task_id
            .rsplit('/')
            .next()
            .unwrap_or(task_id)
            .trim()
            .to_string();
        let want = format!("Mbpp/{id}");
        self.items.iter().position(|it| it.task_id == want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_called_function() {
        assert!(MbppSplit::Test.contains(11) && MbppSplit::Test.contains(510));
        assert!(!MbppSplit::Test.contains(10) && !MbppSplit::Test.contains(511));
        assert!(MbppSplit::Train.contains(974));
        assert_eq!("full".parse::<MbppSplit>(), Ok(MbppSplit::All));
        assert!("dev".parse::<MbppSplit>().is_err());
        let code = "def helper(x):\n    return x\ndef solve(a):\n    return helper(a)\n";
        let tests = vec!["assert solve(1) == 1".to_string()];
        assert_eq!(called_function(code, &tests).as_deref(), Some("solve"));
    }
}
