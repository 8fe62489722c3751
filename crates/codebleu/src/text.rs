//! Python's notion of whitespace, which codebleu's tokenization (`str.split()`) and its
//! blank-line filter (`str.strip()`) use.

/// `str.isspace()` for one character: Unicode White_Space plus the four ASCII information
/// separators U+001C..U+001F, which Python also splits on.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `s.split()`: the tokenizer of every n-gram component.
pub(crate) fn py_split(s: &str) -> Vec<&str> {
    s.split(is_py_space).filter(|t| !t.is_empty()).collect()
}

/// Drops the lines that are blank by `str.strip()` and joins the rest with `\n`, as
/// codebleu's comment remover does after removing comments.
pub(crate) fn drop_blank_lines(s: &str) -> String {
    s.split('\n')
        .filter(|line| !py_strip(line).is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python() {
        assert_eq!(py_split(" a\tb\u{1f}c\u{a0}d\r\n"), ["a", "b", "c", "d"]);
        assert_eq!(py_strip("\u{1c} x \u{3000}"), "x");
        assert_eq!(drop_blank_lines("a\n  \n\r\nb"), "a\nb");
    }
}
