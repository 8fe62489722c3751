//! codebleu's `remove_comments_and_docstrings`, which both tree-based components apply to
//! every snippet before parsing.
//!
//! For Python the package rebuilds the source from the tokens of CPython's `tokenize`
//! module, dropping comments and strings that start a logical line; for the C family it
//! blanks `//` and `/* */` comments with one regular expression. Both then drop blank
//! lines. When Python's tokenizer raises (an unclosed bracket, a bad dedent) the package
//! keeps the snippet as it was, so [`remove`] returns `None` there and callers do the same.

use std::sync::LazyLock;

use regex::Regex;

use crate::text::{drop_blank_lines, py_strip};
use crate::Lang;

/// The snippet with comments (and Python docstrings) removed, or `None` where codebleu's
/// own remover raises and it keeps the snippet unchanged.
pub(crate) fn remove(source: &str, lang: Lang) -> Option<String> {
    match lang {
        Lang::Python => remove_python(source),
        Lang::Java | Lang::CSharp | Lang::Cpp | Lang::C => Some(remove_c_family(source)),
    }
}

/// Applies [`remove`], keeping the snippet where it fails, as the package does.
pub(crate) fn remove_or_keep(source: &str, lang: Lang) -> String {
    remove(source, lang).unwrap_or_else(|| source.to_string())
}

fn remove_c_family(source: &str) -> String {
    // Strings are matched too so that `//` inside a string literal is not taken for a
    // comment; they are put back unchanged, comments become one space.
    static COMMENT_OR_STRING: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?ms)//.*?$|/\*.*?\*/|'(?:\\.|[^\\'])*'|"(?:\\.|[^\\"])*""#)
            .expect("valid regex")
    });
    let replaced = COMMENT_OR_STRING.replace_all(source, |caps: &regex::Captures| {
        let m = &caps[0];
        if m.starts_with('/') {
            " ".to_string()
        } else {
            m.to_string()
        }
    });
    drop_blank_lines(&replaced)
}

fn remove_python(source: &str) -> Option<String> {
    let tokens = tokenize(source)?;
    let mut out = String::new();
    let mut prev = Kind::Indent;
    let mut last_lineno = 0usize;
    let mut last_col = 0usize;
    for tok in &tokens {
        let (start_line, start_col) = tok.start;
        if start_line > last_lineno {
            last_col = 0;
        }
        if start_col > last_col {
            out.extend(std::iter::repeat_n(' ', start_col - last_col));
        }
        match tok.kind {
            Kind::Comment => {}
            // A string that starts a logical line is taken for a docstring, as is any
            // string starting in column 0.
            Kind::String => {
                if prev != Kind::Indent && prev != Kind::Newline && start_col > 0 {
                    out.push_str(&tok.text);
                }
            }
            _ => out.push_str(&tok.text),
        }
        prev = tok.kind;
        (last_lineno, last_col) = tok.end;
    }
    Some(drop_blank_lines(&out))
}

/// The token types of `tokenize` that the remover tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Comment,
    String,
    Newline,
    Nl,
    Indent,
    Dedent,
    EndMarker,
    /// NAME, NUMBER, OP and ERRORTOKEN: copied through alike.
    Other,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    text: String,
    /// (line from 1, column in characters), as `tokenize` reports them.
    start: (usize, usize),
    end: (usize, usize),
}

/// How a string that continues past its first line ends.
#[derive(Debug, Clone, Copy)]
struct StringEnd {
    quote: char,
    triple: bool,
}

impl StringEnd {
    /// `endprog.match(line, pos)`: the end (exclusive) of the string's closing quote(s) if
    /// the rest of the string ends on this line. An escape is a backslash and any character
    /// but `\n`; a backslash before `\n` or at the end of the line makes the match fail.
    fn find(self, line: &[char], mut i: usize) -> Option<usize> {
        while i < line.len() {
            let c = line[i];
            if c == '\\' {
                if i + 1 < line.len() && line[i + 1] != '\n' {
                    i += 2;
                    continue;
                }
                return None;
            }
            if c == self.quote {
                if !self.triple {
                    return Some(i + 1);
                }
                if line.get(i + 1) == Some(&self.quote) && line.get(i + 2) == Some(&self.quote) {
                    return Some(i + 3);
                }
            }
            i += 1;
        }
        None
    }
}

/// The one token at the start of the text, after blanks, that `tokenize`'s `PseudoToken`
/// expression matches, in its order of alternatives (leftmost-first, like Python's `re`).
static PSEUDO_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    const PREFIX: &str = "(?:[bB][rR]?|[rR][bBfF]?|[uU]|[fF][rR]?)?";
    const DIGITS: &str = "[0-9](?:_?[0-9])*";
    let exponent = format!("[eE][-+]?{DIGITS}");
    let pointfloat = format!(r"(?:{DIGITS}\.(?:{DIGITS})?|\.{DIGITS})(?:{exponent})?");
    let float = format!("(?:{pointfloat}|{DIGITS}{exponent})");
    let imag = format!("(?:{DIGITS}[jJ]|{float}[jJ])");
    let int = "(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|(?:0(?:_?0)*|[1-9](?:_?[0-9])*))";
    // Python 3.11's operators, longest first where one is a prefix of another.
    let operators = r"!=|%=|%|&=|&|\(|\)|\*\*=|\*\*|\*=|\*|\+=|\+|,|->|-=|-|\.\.\.|\.|//=|//|/=|/|:=|:|;|<<=|<<|<=|<|==|=|>=|>>=|>>|>|@=|@|\[|\]|\^=|\^|\{|\|=|\||\}|~";
    let extras = format!(r#"\\\r?\n|\z|#[^\r\n]*|{PREFIX}'''|{PREFIX}""""#);
    let cont_str = format!(
        r#"{PREFIX}'[^\n'\\]*(?:\\.[^\n'\\]*)*(?:'|\\\r?\n)|{PREFIX}"[^\n"\\]*(?:\\.[^\n"\\]*)*(?:"|\\\r?\n)"#
    );
    let pattern =
        format!(r"^[ \f\t]*({extras}|{imag}|{float}|{int}|\r?\n|{operators}|{cont_str}|\w+)");
    Regex::new(&pattern).expect("valid regex")
});

/// A string prefix followed by three quotes and nothing else: the rest of the string
/// follows it.
fn is_triple_opener(token: &str) -> bool {
    let rest = token.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    rest == "'''" || rest == "\"\"\""
}

/// A port of CPython 3.11's `tokenize._tokenize` (as `generate_tokens` runs it), reduced to
/// what the remover reads. `None` where it raises `TokenError` or `IndentationError`.
fn tokenize(source: &str) -> Option<Vec<Token>> {
    const TABSIZE: usize = 8;
    let mut lines = source.split_inclusive('\n');
    let mut tokens = Vec::new();
    let mut push = |kind, text: String, start, end| {
        tokens.push(Token {
            kind,
            text,
            start,
            end,
        })
    };
    let mut lnum = 0usize;
    let mut parenlev = 0i64;
    let mut continued = false;
    let mut indents = vec![0usize];
    // A string still open at the end of a line: its text so far, start, how it ends and
    // whether it is a single-quoted one continued by a backslash.
    let mut contstr: Option<(String, (usize, usize), StringEnd, bool)> = None;
    let mut last_line: &str;
    let mut line: &str = "";
    loop {
        last_line = line;
        line = lines.next().unwrap_or("");
        lnum += 1;
        let chars: Vec<char> = line.chars().collect();
        let text = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        let max = chars.len();
        let mut pos = 0usize;

        if let Some((mut s, strstart, end, needcont)) = contstr.take() {
            if line.is_empty() {
                return None; // EOF in multi-line string
            }
            if let Some(e) = end.find(&chars, 0) {
                pos = e;
                s.push_str(&text(0, e));
                push(Kind::String, s, strstart, (lnum, e));
            } else if needcont && !line.ends_with("\\\n") && !line.ends_with("\\\r\n") {
                s.push_str(line);
                push(Kind::Other, s, strstart, (lnum, max));
                continue;
            } else {
                s.push_str(line);
                contstr = Some((s, strstart, end, needcont));
                continue;
            }
        } else if parenlev == 0 && !continued {
            if line.is_empty() {
                break;
            }
            let mut column = 0usize;
            while pos < max {
                match chars[pos] {
                    ' ' => column += 1,
                    '\t' => column = (column / TABSIZE + 1) * TABSIZE,
                    '\x0c' => column = 0,
                    _ => break,
                }
                pos += 1;
            }
            if pos == max {
                break;
            }
            if matches!(chars[pos], '#' | '\r' | '\n') {
                if chars[pos] == '#' {
                    let comment = text(pos, max);
                    let comment = comment.trim_end_matches(['\r', '\n']).to_string();
                    let len = comment.chars().count();
                    push(Kind::Comment, comment, (lnum, pos), (lnum, pos + len));
                    pos += len;
                }
                push(Kind::Nl, text(pos, max), (lnum, pos), (lnum, max));
                continue;
            }
            if column > *indents.last().expect("never empty") {
                indents.push(column);
                push(Kind::Indent, text(0, pos), (lnum, 0), (lnum, pos));
            }
            while column < *indents.last().expect("never empty") {
                if !indents.contains(&column) {
                    return None; // unindent does not match any outer indentation level
                }
                indents.pop();
                push(Kind::Dedent, String::new(), (lnum, pos), (lnum, pos));
            }
        } else {
            if line.is_empty() {
                return None; // EOF in multi-line statement
            }
            continued = false;
        }

        // Byte offset of each character, to map regex matches back to columns.
        let offsets: Vec<usize> = line
            .char_indices()
            .map(|(b, _)| b)
            .chain([line.len()])
            .collect();
        let column_of = |byte: usize| offsets.partition_point(|&b| b < byte);
        while pos < max {
            let Some(m) = PSEUDO_TOKEN
                .captures(&line[offsets[pos]..])
                .and_then(|c| c.get(1))
            else {
                push(
                    Kind::Other,
                    text(pos, pos + 1),
                    (lnum, pos),
                    (lnum, pos + 1),
                );
                pos += 1;
                continue;
            };
            let start = column_of(offsets[pos] + m.start());
            let end = column_of(offsets[pos] + m.end());
            pos = end;
            if start == end {
                continue;
            }
            let token = m.as_str();
            let initial = chars[start];
            let quote = token.chars().find(|c| matches!(c, '\'' | '"'));
            if initial.is_ascii_digit() || (initial == '.' && token != "." && token != "...") {
                push(Kind::Other, token.to_string(), (lnum, start), (lnum, end));
            } else if initial == '\r' || initial == '\n' {
                let kind = if parenlev > 0 {
                    Kind::Nl
                } else {
                    Kind::Newline
                };
                push(kind, token.to_string(), (lnum, start), (lnum, end));
            } else if initial == '#' {
                push(Kind::Comment, token.to_string(), (lnum, start), (lnum, end));
            } else if let Some(q) = quote.filter(|_| is_triple_opener(token)) {
                let end_of = StringEnd {
                    quote: q,
                    triple: true,
                };
                if let Some(e) = end_of.find(&chars, pos) {
                    pos = e;
                    push(Kind::String, text(start, e), (lnum, start), (lnum, e));
                } else {
                    contstr = Some((text(start, max), (lnum, start), end_of, false));
                    break;
                }
            } else if let Some(q) = quote {
                if token.ends_with('\n') {
                    // Continued by a backslash at the end of the line.
                    let end_of = StringEnd {
                        quote: q,
                        triple: false,
                    };
                    contstr = Some((text(start, max), (lnum, start), end_of, true));
                    break;
                }
                push(Kind::String, token.to_string(), (lnum, start), (lnum, end));
            } else if initial == '\\' {
                continued = true;
            } else {
                match initial {
                    '(' | '[' | '{' => parenlev += 1,
                    ')' | ']' | '}' => parenlev -= 1,
                    _ => {}
                }
                push(Kind::Other, token.to_string(), (lnum, start), (lnum, end));
            }
        }
    }

    // tokenize adds a NEWLINE when the source does not end in one.
    if !last_line.is_empty()
        && !last_line.ends_with(['\r', '\n'])
        && !py_strip(last_line).starts_with('#')
    {
        let len = last_line.chars().count();
        push(
            Kind::Newline,
            String::new(),
            (lnum - 1, len),
            (lnum - 1, len + 1),
        );
    }
    for _ in 1..indents.len() {
        push(Kind::Dedent, String::new(), (lnum, 0), (lnum, 0));
    }
    push(Kind::EndMarker, String::new(), (lnum, 0), (lnum, 0));
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(s: &str) -> Option<String> {
        remove(s, Lang::Python)
    }

    // Expected strings are the package's `remove_comments_and_docstrings` output.
    #[test]
    fn python_drops_comments_and_docstrings() {
        let src = "def f(a):\n    \"\"\"Doc\n    string.\"\"\"\n    # note\n    return a  # why\n";
        assert_eq!(py(src).unwrap(), "def f(a):\n    return a  ");
        // A string inside an expression stays.
        assert_eq!(py("x = 'a#b'\n").unwrap(), "x = 'a#b'");
    }

    #[test]
    fn python_keeps_crlf_and_joins_backslash_lines() {
        assert_eq!(
            py("x = 1 + \\\n    2\r\ny = 3").unwrap(),
            "x = 1 +    2\r\ny = 3"
        );
    }

    #[test]
    fn python_tokenize_errors_keep_the_source() {
        assert_eq!(py("f(1,\n"), None);
        assert_eq!(py("if x:\n        a\n    b\n"), None);
        assert_eq!(py("s = '''open\n"), None);
    }

    #[test]
    fn c_family_blanks_comments_but_not_strings() {
        let src = "int a; // c\n/* block\n */\nchar *s = \"//x\";";
        assert_eq!(
            remove(src, Lang::Java).unwrap(),
            "int a;  \nchar *s = \"//x\";"
        );
    }
}
