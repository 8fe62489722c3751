//! The syntax (AST) match: the share of the reference's subtrees, as tree-sitter
//! S-expressions, that also occur in the hypothesis (codebleu's `corpus_syntax_match`).

use std::collections::HashSet;

use crate::comments::remove_or_keep;
use crate::{Error, Lang, Result};

pub(crate) fn parse(
    parser: &mut tree_sitter::Parser,
    code: &str,
    lang: Lang,
) -> Result<tree_sitter::Tree> {
    parser.parse(code, None).ok_or_else(|| Error::Parser {
        lang: lang.name(),
        msg: "parsing returned no tree".to_string(),
    })
}

/// The S-expressions of the root and of every node that has children.
fn subtrees(tree: &tree_sitter::Tree) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    let mut cursor = tree.walk();
    while let Some(node) = stack.pop() {
        out.push(node.to_sexp());
        stack.extend(node.children(&mut cursor).filter(|c| c.child_count() != 0));
    }
    out
}

/// Matched reference subtrees and all reference subtrees of one hypothesis (summed over the
/// corpus, their ratio is the component). Counts each reference subtree present in the
/// hypothesis (the package's direction, which its own comment notes is the reverse of the
/// paper's).
pub(crate) fn syntax_stats(
    parser: &mut tree_sitter::Parser,
    refs: &[&str],
    hyp: &str,
    lang: Lang,
) -> Result<(usize, usize)> {
    let (mut matched, mut total) = (0usize, 0usize);
    // The package strips the hypothesis again for every reference: kept, since the Python
    // remover is not always idempotent.
    let mut candidate = hyp.to_string();
    for reference in refs {
        candidate = remove_or_keep(&candidate, lang);
        let reference = remove_or_keep(reference, lang);
        let cand: HashSet<String> = subtrees(&parse(parser, &candidate, lang)?)
            .into_iter()
            .collect();
        let refs = subtrees(&parse(parser, &reference, lang)?);
        matched += refs.iter().filter(|s| cand.contains(*s)).count();
        total += refs.len();
    }
    Ok((matched, total))
}
