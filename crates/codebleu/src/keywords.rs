//! Keyword lists for the weighted n-gram match: a reference token in its language's list
//! weighs 1, any other token 0.2. These are the keyword sets that codebleu 0.7.0 uses
//! (its `keywords/<lang>.txt`), kept sorted so that lookup is a binary search.

#[rustfmt::skip]
pub(crate) const PYTHON: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "case",
    "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from",
    "global", "if", "import", "in", "is", "lambda", "match", "nonlocal", "not", "or",
    "pass", "raise", "return", "try", "type", "while", "with", "yield",
];

#[rustfmt::skip]
pub(crate) const JAVA: &[&str] = &[
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class",
    "const", "continue", "default", "do", "double", "else", "enum", "extends", "final",
    "finally", "float", "for", "goto", "if", "implements", "import", "instanceof", "int",
    "interface", "long", "native", "new", "package", "private", "protected", "public",
    "return", "short", "static", "strictfp", "super", "switch", "synchronized", "this",
    "throw", "throws", "transient", "try", "void", "volatile", "while",
];

#[rustfmt::skip]
pub(crate) const CSHARP: &[&str] = &[
    "abstract", "add", "alias", "as", "ascending", "async", "await", "base", "bool",
    "break", "by", "byte", "case", "catch", "char", "checked", "class", "const", "continue",
    "decimal", "default", "delegate", "descending", "do", "double", "dynamic", "else",
    "enum", "equals", "event", "explicit", "extern", "false", "finally", "fixed", "float",
    "for", "foreach", "from", "get", "global", "goto", "group", "if", "implicit", "in",
    "int", "interface", "internal", "into", "is", "join", "let", "lock", "long", "nameof",
    "namespace", "new", "notnull", "null", "object", "on", "operator", "orderby", "out",
    "override", "params", "partial", "private", "protected", "public", "readonly", "ref",
    "remove", "return", "sbyte", "sealed", "select", "set", "short", "sizeof", "stackalloc",
    "static", "string", "struct", "switch", "this", "throw", "true", "try", "typeof",
    "uint", "ulong", "unchecked", "unmanaged", "unsafe", "ushort", "using", "value", "var",
    "virtual", "void", "volatile", "when", "where", "while", "yield",
];

#[rustfmt::skip]
pub(crate) const CPP: &[&str] = &[
    "INT_MAX", "INT_MIN", "MAX_RAND", "NULL", "and", "and_eq", "asm", "auto", "bitand",
    "bitor", "bool", "break", "case", "catch", "char", "cin", "class", "compl", "const",
    "const_cast", "continue", "cout", "default", "delete", "do", "double", "dynamic_cast",
    "else", "endl", "enum", "explicit", "extern", "false", "float", "for", "friend", "goto",
    "if", "include", "inline", "int", "iomanip", "iostream", "long", "main", "mutable",
    "namespace", "new", "not", "not_eq", "npos", "operator", "or", "or_eq", "private",
    "protected", "public", "register", "reinterpret_cast", "return", "short", "signed",
    "sizeof", "static", "static_cast", "std", "string", "struct", "switch", "template",
    "this", "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned",
    "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
];

#[rustfmt::skip]
pub(crate) const C: &[&str] = &[
    "_Packed", "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if", "int", "long",
    "register", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "typedef", "union", "unsigned", "void", "volatile", "while",
];

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_for_binary_search() {
        for list in [
            super::PYTHON,
            super::JAVA,
            super::CSHARP,
            super::CPP,
            super::C,
        ] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }
}
