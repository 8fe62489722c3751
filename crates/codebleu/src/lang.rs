use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{keywords, Error, Result};

/// A language that every CodeBLEU component supports here. Names follow codebleu's
/// `lang` argument (`c_sharp` for C#).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    #[serde(rename = "python")]
    Python,
    #[serde(rename = "java")]
    Java,
    #[serde(rename = "cpp")]
    Cpp,
    #[serde(rename = "c")]
    C,
    #[serde(rename = "c_sharp")]
    CSharp,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::Python, Lang::Java, Lang::Cpp, Lang::C, Lang::CSharp];

    /// codebleu's name for the language.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Java => "java",
            Lang::Cpp => "cpp",
            Lang::C => "c",
            Lang::CSharp => "c_sharp",
        }
    }

    pub(crate) fn keywords(self) -> &'static [&'static str] {
        match self {
            Lang::Python => keywords::PYTHON,
            Lang::Java => keywords::JAVA,
            Lang::Cpp => keywords::CPP,
            Lang::C => keywords::C,
            Lang::CSharp => keywords::CSHARP,
        }
    }

    /// A parser for the language, with the grammar version codebleu is checked against.
    pub(crate) fn parser(self) -> Result<tree_sitter::Parser> {
        let language = match self {
            Lang::Python => tree_sitter_python::language(),
            Lang::Java => tree_sitter_java::language(),
            Lang::Cpp => tree_sitter_cpp::language(),
            Lang::C => tree_sitter_c::language(),
            Lang::CSharp => tree_sitter_c_sharp::language(),
        };
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&language).map_err(|e| Error::Parser {
            lang: self.name(),
            msg: e.to_string(),
        })?;
        Ok(parser)
    }
}

impl FromStr for Lang {
    type Err = Error;

    /// codebleu's names, plus `csharp`, `c#` and `c++`; case-insensitive.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "python" => Ok(Lang::Python),
            "java" => Ok(Lang::Java),
            "cpp" | "c++" => Ok(Lang::Cpp),
            "c" => Ok(Lang::C),
            "c_sharp" | "csharp" | "c#" => Ok(Lang::CSharp),
            _ => Err(Error::UnsupportedLanguage(s.to_string())),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
