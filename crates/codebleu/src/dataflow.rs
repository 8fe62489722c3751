//! The semantic data-flow match: codebleu's `corpus_dataflow_match` with the data-flow
//! graph extraction of its `parser/DFG.py` (`DFG_python`, `DFG_java`, and `DFG_csharp`,
//! which the package also applies to C and C++ trees).
//!
//! Each graph node is a variable occurrence with the variables it "comes from" or is
//! "computed from"; variables are renamed `var_0, var_1, ...` in order of appearance and
//! the share of the reference's normalised edges found in the hypothesis is the score.
//!
//! Where the package's extraction raises for a snippet (a field missing from a malformed
//! tree, Python's recursion limit on a very deep tree) it takes that snippet's graph as
//! empty; [`Raised`] marks those points and the same happens here.

use std::collections::{HashMap, HashSet};

use tree_sitter::Node;

use crate::comments::remove_or_keep;
use crate::syntax::parse;
use crate::{Lang, Result};

/// Deepest recursion of the package's tree walks under Python's default recursion limit
/// of 1000, measured with `calc_codebleu` called from a script's top level (a chain
/// `x = 1 + 1 + ...` keeps its data flow up to 989 terms there). Each frame the caller
/// adds lowers the package's limit by one, so the two agree only near that setting.
const MAX_DEPTH: usize = 993;
/// Stack for the extraction thread, enough for [`MAX_DEPTH`] levels of recursion.
const STACK_BYTES: usize = 256 << 20;

/// The package's extraction raised here; it then takes the snippet's graph as empty.
#[derive(Debug)]
struct Raised;
type Py<T> = std::result::Result<T, Raised>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rel {
    ComesFrom,
    ComputedFrom,
}

/// (start row, start column, end row, end column) of a token, columns in bytes.
type Span = (usize, usize, usize, usize);

#[derive(Debug, Clone)]
struct Edge {
    code: String,
    idx: usize,
    rel: Rel,
    parents: Vec<String>,
    parent_idx: Vec<usize>,
}

impl Edge {
    fn new(
        code: String,
        idx: usize,
        rel: Rel,
        parents: Vec<String>,
        parent_idx: Vec<usize>,
    ) -> Self {
        Edge {
            code,
            idx,
            rel,
            parents,
            parent_idx,
        }
    }
}

/// Where each variable was last defined: token positions by name.
type States = HashMap<String, Vec<usize>>;
type Flow = (Vec<Edge>, States);

/// Runs `f` on a thread whose stack holds the extraction's recursion: it recurses once per
/// tree level, as the package does, and trees as deep as Python allows would overflow ours.
pub(crate) fn with_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("codebleu-dataflow".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, f)
            .expect("spawn data-flow thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Matched and all normalised reference data-flow edges of one hypothesis (summed over the
/// corpus, their ratio is the component; with no reference edge at all the package warns
/// and takes 0). Call on a [`with_deep_stack`] thread.
pub(crate) fn dataflow_stats(
    parser: &mut tree_sitter::Parser,
    refs: &[&str],
    hyp: &str,
    lang: Lang,
) -> Result<(usize, usize)> {
    let (mut matched, mut total) = (0usize, 0usize);
    // Re-stripped for every reference, as in the package.
    let mut candidate = hyp.to_string();
    for reference in refs {
        candidate = remove_or_keep(&candidate, lang);
        let reference = remove_or_keep(reference, lang);
        let mut cand = normalize(&data_flow(parser, &candidate, lang)?);
        let reference = normalize(&data_flow(parser, &reference, lang)?);
        total += reference.len();
        for edge in &reference {
            if let Some(pos) = cand.iter().position(|c| c == edge) {
                matched += 1;
                cand.remove(pos);
            }
        }
    }
    Ok((matched, total))
}

/// An edge with its variables renamed by order of first appearance (parents first).
type NormEdge = (usize, Rel, Vec<usize>);

fn normalize(dfg: &[Edge]) -> Vec<NormEdge> {
    fn id<'a>(ids: &mut HashMap<&'a str, usize>, name: &'a str) -> usize {
        let next = ids.len();
        *ids.entry(name).or_insert(next)
    }
    let mut ids = HashMap::new();
    let mut out = Vec::with_capacity(dfg.len());
    for edge in dfg {
        let parents: Vec<usize> = edge.parents.iter().map(|p| id(&mut ids, p)).collect();
        out.push((id(&mut ids, &edge.code), edge.rel, parents));
    }
    out
}

/// codebleu's `get_data_flow`: the graph of one snippet, keeping the nodes that take part
/// in an edge, merged by token position.
fn data_flow(parser: &mut tree_sitter::Parser, code: &str, lang: Lang) -> Result<Vec<Edge>> {
    let tree = parse(parser, code, lang)?;
    let dfg = extract(tree.root_node(), code, lang).unwrap_or_default();
    let mut order = Vec::new();
    let mut by_idx: HashMap<usize, Edge> = HashMap::new();
    for edge in dfg {
        match by_idx.get_mut(&edge.idx) {
            Some(seen) => {
                seen.parents = union(&seen.parents, &edge.parents);
                seen.parent_idx = union(&seen.parent_idx, &edge.parent_idx);
                seen.code = edge.code;
                seen.rel = edge.rel;
            }
            None => {
                order.push(edge.idx);
                by_idx.insert(edge.idx, edge);
            }
        }
    }
    Ok(order
        .into_iter()
        .map(|idx| by_idx.remove(&idx).expect("inserted above"))
        .collect())
}

/// `list(set(a + b))`. Python orders the set by string hashes, which it randomises per
/// process, so the package's own order is not reproducible; first occurrence is used here.
fn union<T: Clone + Eq + std::hash::Hash>(a: &[T], b: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    a.iter()
        .chain(b)
        .filter(|x| seen.insert(*x))
        .cloned()
        .collect()
}

fn extract(root: Node, code: &str, lang: Lang) -> Py<Vec<Edge>> {
    let mut spans = Vec::new();
    token_spans(root, 1, &mut spans)?;
    let lines: Vec<Vec<char>> = code.split('\n').map(|l| l.chars().collect()).collect();
    let mut index_to_code = HashMap::new();
    for (i, span) in spans.iter().enumerate() {
        index_to_code.insert(*span, (i, token_text(*span, &lines)?));
    }
    let walker = Walker {
        index_to_code,
        flavor: match lang {
            Lang::Python => Flavor::Python,
            Lang::Java => Flavor::CFamily(&JAVA),
            Lang::CSharp | Lang::Cpp | Lang::C => Flavor::CFamily(&CSHARP),
        },
    };
    let (mut dfg, _) = walker.dfg(root, &States::new(), 1)?;
    dfg.sort_by_key(|e| e.idx);
    let mut linked = HashSet::new();
    for edge in &dfg {
        if !edge.parent_idx.is_empty() {
            linked.insert(edge.idx);
        }
        linked.extend(edge.parent_idx.iter().copied());
    }
    dfg.retain(|e| linked.contains(&e.idx));
    Ok(dfg)
}

fn span(node: Node) -> Span {
    let (s, e) = (node.start_position(), node.end_position());
    (s.row, s.column, e.row, e.column)
}

/// A token for the package: a leaf or a whole string/character literal, never a comment.
fn is_token(node: Node) -> bool {
    (node.child_count() == 0
        || matches!(
            node.kind(),
            "string_literal" | "string" | "character_literal"
        ))
        && node.kind() != "comment"
}

fn children(node: Node) -> Vec<Node> {
    node.children(&mut node.walk()).collect()
}

fn check_depth(depth: usize) -> Py<()> {
    if depth > MAX_DEPTH {
        return Err(Raised);
    }
    Ok(())
}

/// `tree_to_token_index`.
fn token_spans(node: Node, depth: usize, out: &mut Vec<Span>) -> Py<()> {
    check_depth(depth)?;
    if is_token(node) {
        out.push(span(node));
    } else {
        for child in children(node) {
            token_spans(child, depth + 1, out)?;
        }
    }
    Ok(())
}

/// `index_to_code_token`: the package slices the source's lines, as Python strings, with
/// tree-sitter's byte columns; on non-ASCII lines that cuts elsewhere than the token, and
/// the same cut is made here so that the same names come out.
fn token_text(span: Span, lines: &[Vec<char>]) -> Py<String> {
    let (sr, sc, er, ec) = span;
    let line = |r: usize| lines.get(r).ok_or(Raised);
    let slice = |l: &[char], a: usize, b: usize| -> String {
        let b = b.min(l.len());
        l[a.min(b)..b].iter().collect()
    };
    if sr == er {
        return Ok(slice(line(sr)?, sc, ec));
    }
    let first = line(sr)?;
    let mut s = slice(first, sc, first.len());
    for r in sr + 1..er {
        s.extend(line(r)?.iter());
    }
    s.push_str(&slice(line(er)?, 0, ec));
    Ok(s)
}

/// Node types that `DFG_java` and `DFG_csharp` tell apart; the rest of their code is the same.
struct CFamily {
    increment: &'static str,
    enhanced_for: &'static str,
    enhanced_for_fields: (&'static str, &'static str),
    /// `DFG_csharp` takes a declarator's name and value by position, `DFG_java` by field.
    declarator_by_position: bool,
}

const JAVA: CFamily = CFamily {
    increment: "update_expression",
    enhanced_for: "enhanced_for_statement",
    enhanced_for_fields: ("name", "value"),
    declarator_by_position: false,
};

const CSHARP: CFamily = CFamily {
    increment: "postfix_unary_expression",
    enhanced_for: "for_each_statement",
    enhanced_for_fields: ("left", "right"),
    declarator_by_position: true,
};

enum Flavor {
    Python,
    CFamily(&'static CFamily),
}

struct Walker {
    index_to_code: HashMap<Span, (usize, String)>,
    flavor: Flavor,
}

/// A node the package dereferences: `None` there is an AttributeError in Python.
fn req(node: Option<Node>) -> Py<Node> {
    node.ok_or(Raised)
}

fn sorted(mut dfg: Vec<Edge>) -> Vec<Edge> {
    dfg.sort_by_key(|e| e.idx);
    dfg
}

/// Merges the edges that a loop body yields on its two passes: one per (name, position,
/// relation), parents united, ordered by position.
fn merge_loop(dfg: Vec<Edge>) -> Vec<Edge> {
    let mut order: Vec<Edge> = Vec::new();
    let mut at: HashMap<(String, usize, Rel), usize> = HashMap::new();
    for edge in dfg {
        let key = (edge.code.clone(), edge.idx, edge.rel);
        match at.get(&key) {
            Some(&i) => {
                let seen = &mut order[i];
                seen.parents = union(&seen.parents, &edge.parents);
                let mut idx = union(&seen.parent_idx, &edge.parent_idx);
                idx.sort_unstable();
                seen.parent_idx = idx;
            }
            None => {
                at.insert(key, order.len());
                order.push(edge);
            }
        }
    }
    sorted(order)
}

/// The definitions reaching past a branch: every branch's, positions sorted and unique.
fn merge_states(branches: Vec<States>) -> States {
    let mut merged = States::new();
    for branch in branches {
        for (name, idx) in branch {
            merged.entry(name).or_default().extend(idx);
        }
    }
    for idx in merged.values_mut() {
        idx.sort_unstable();
        idx.dedup();
    }
    merged
}

impl Walker {
    fn lookup(&self, span: Span) -> Py<(usize, String)> {
        self.index_to_code.get(&span).cloned().ok_or(Raised)
    }

    /// `tree_to_variable_index`: the tokens under `node` whose text is not their type
    /// (identifiers and literals, not keywords or punctuation).
    fn var_index(&self, node: Node, depth: usize) -> Py<Vec<Span>> {
        check_depth(depth)?;
        if is_token(node) {
            let (_, code) = self.lookup(span(node))?;
            return Ok(if node.kind() != code {
                vec![span(node)]
            } else {
                vec![]
            });
        }
        let mut out = Vec::new();
        for child in children(node) {
            out.extend(self.var_index(child, depth + 1)?);
        }
        Ok(out)
    }

    fn dfg(&self, node: Node, states: &States, depth: usize) -> Py<Flow> {
        check_depth(depth)?;
        let states = states.clone();
        if is_token(node) {
            return self.token(node, states);
        }
        match self.flavor {
            Flavor::Python => self.python(node, states, depth),
            Flavor::CFamily(family) => self.c_family(family, node, states, depth),
        }
    }

    /// A token: a use of a defined variable comes from its definitions; an identifier seen
    /// first defines itself.
    fn token(&self, node: Node, mut states: States) -> Py<Flow> {
        let (idx, code) = self.lookup(span(node))?;
        if node.kind() == code {
            return Ok((vec![], states));
        }
        if let Some(defs) = states.get(&code) {
            let edge = Edge::new(code.clone(), idx, Rel::ComesFrom, vec![code], defs.clone());
            return Ok((vec![edge], states));
        }
        if node.kind() == "identifier" {
            states.insert(code.clone(), vec![idx]);
        }
        Ok((
            vec![Edge::new(code, idx, Rel::ComesFrom, vec![], vec![])],
            states,
        ))
    }

    /// Walks `nodes` in order, threading the states through.
    fn seq<'t>(
        &self,
        nodes: impl IntoIterator<Item = Node<'t>>,
        mut states: States,
        depth: usize,
        dfg: &mut Vec<Edge>,
    ) -> Py<States> {
        for node in nodes {
            let (temp, next) = self.dfg(node, &states, depth + 1)?;
            dfg.extend(temp);
            states = next;
        }
        Ok(states)
    }

    /// A declaration `name = value` (or a bare `name`): each name comes from each variable
    /// of the value.
    fn definition(
        &self,
        name: Option<Node>,
        value: Option<Node>,
        mut states: States,
        depth: usize,
    ) -> Py<Flow> {
        let mut dfg = Vec::new();
        let Some(value) = value else {
            for index in self.var_index(req(name)?, depth + 1)? {
                let (idx, code) = self.lookup(index)?;
                dfg.push(Edge::new(code.clone(), idx, Rel::ComesFrom, vec![], vec![]));
                states.insert(code, vec![idx]);
            }
            return Ok((sorted(dfg), states));
        };
        let names = self.var_index(req(name)?, depth + 1)?;
        let values = self.var_index(value, depth + 1)?;
        states = self.seq([value], states, depth, &mut dfg)?;
        for index1 in names {
            let (idx1, code1) = self.lookup(index1)?;
            for &index2 in &values {
                let (idx2, code2) = self.lookup(index2)?;
                dfg.push(Edge::new(
                    code1.clone(),
                    idx1,
                    Rel::ComesFrom,
                    vec![code2],
                    vec![idx2],
                ));
            }
            states.insert(code1, vec![idx1]);
        }
        Ok((sorted(dfg), states))
    }

    /// Each variable of `left` is computed from each variable of `right`, one edge per pair
    /// (`per_pair`, the C family) or one edge with all of them (Python).
    fn computed_from(
        &self,
        left: Node,
        right: Node,
        per_pair: bool,
        states: &mut States,
        depth: usize,
        dfg: &mut Vec<Edge>,
    ) -> Py<()> {
        let names = self.var_index(left, depth + 1)?;
        let values = self.var_index(right, depth + 1)?;
        let values: Vec<(usize, String)> = values
            .into_iter()
            .map(|v| self.lookup(v))
            .collect::<Py<_>>()?;
        for index1 in names {
            let (idx1, code1) = self.lookup(index1)?;
            if per_pair {
                for (idx2, code2) in &values {
                    dfg.push(Edge::new(
                        code1.clone(),
                        idx1,
                        Rel::ComputedFrom,
                        vec![code2.clone()],
                        vec![*idx2],
                    ));
                }
            } else {
                dfg.push(Edge::new(
                    code1.clone(),
                    idx1,
                    Rel::ComputedFrom,
                    values.iter().map(|v| v.1.clone()).collect(),
                    values.iter().map(|v| v.0).collect(),
                ));
            }
            states.insert(code1, vec![idx1]);
        }
        Ok(())
    }

    /// `DFG_python` below its token case.
    fn python(&self, node: Node, mut states: States, depth: usize) -> Py<Flow> {
        let kids = children(node);
        let mut dfg = Vec::new();
        match node.kind() {
            "default_parameter" => self.definition(
                node.child_by_field_name("name"),
                node.child_by_field_name("value"),
                states,
                depth,
            ),
            kind @ ("assignment" | "augmented_assignment" | "for_in_clause") => {
                let (lefts, rights) = if kind == "for_in_clause" {
                    let last = *kids.last().expect("not a token, so it has children");
                    (vec![node.child_by_field_name("left")], vec![Some(last)])
                } else {
                    let Some(right) = node.child_by_field_name("right") else {
                        return Ok((vec![], states));
                    };
                    python_targets(node.child_by_field_name("left"), right)?
                };
                for right in &rights {
                    states = self.seq([req(*right)?], states, depth, &mut dfg)?;
                }
                for (left, right) in lefts.into_iter().zip(rights) {
                    self.computed_from(
                        req(left)?,
                        req(right)?,
                        false,
                        &mut states,
                        depth,
                        &mut dfg,
                    )?;
                }
                Ok((sorted(dfg), states))
            }
            "if_statement" => {
                let mut current = states.clone();
                let mut branches = Vec::new();
                let mut has_else = false;
                for child in kids {
                    has_else |= child.kind().contains("else");
                    if matches!(child.kind(), "elif_clause" | "else_clause") {
                        let (temp, branch) = self.dfg(child, &states, depth + 1)?;
                        dfg.extend(temp);
                        branches.push(branch);
                    } else {
                        current = self.seq([child], current, depth, &mut dfg)?;
                    }
                }
                branches.push(current);
                if !has_else {
                    branches.push(states);
                }
                Ok((sorted(dfg), merge_states(branches)))
            }
            "for_statement" => {
                for _ in 0..2 {
                    let right = req(node.child_by_field_name("right"))?;
                    let (lefts, rights) = python_targets(node.child_by_field_name("left"), right)?;
                    for right in &rights {
                        states = self.seq([req(*right)?], states, depth, &mut dfg)?;
                    }
                    for (left, right) in lefts.into_iter().zip(rights) {
                        self.computed_from(
                            req(left)?,
                            req(right)?,
                            false,
                            &mut states,
                            depth,
                            &mut dfg,
                        )?;
                    }
                    let last = *kids.last().expect("not a token, so it has children");
                    if last.kind() == "block" {
                        states = self.seq([last], states, depth, &mut dfg)?;
                    }
                }
                Ok((merge_loop(dfg), states))
            }
            "while_statement" => {
                for _ in 0..2 {
                    states = self.seq(kids.iter().copied(), states, depth, &mut dfg)?;
                }
                Ok((merge_loop(dfg), states))
            }
            _ => {
                // Comprehension clauses bind their variable before the element uses it.
                let (first, rest): (Vec<Node>, Vec<Node>) =
                    kids.into_iter().partition(|c| c.kind() == "for_in_clause");
                states = self.seq(first, states, depth, &mut dfg)?;
                states = self.seq(rest, states, depth, &mut dfg)?;
                Ok((sorted(dfg), states))
            }
        }
    }

    /// `DFG_java` / `DFG_csharp` below their token case.
    fn c_family(&self, family: &CFamily, node: Node, mut states: States, depth: usize) -> Py<Flow> {
        const IF: [&str; 2] = ["if_statement", "else"];
        let kids = children(node);
        let mut dfg = Vec::new();
        let kind = node.kind();
        if kind == "variable_declarator" {
            let (name, value) = if family.declarator_by_position {
                (
                    kids.first().copied(),
                    if kids.len() == 2 { Some(kids[1]) } else { None },
                )
            } else {
                (
                    node.child_by_field_name("name"),
                    node.child_by_field_name("value"),
                )
            };
            return self.definition(name, value, states, depth);
        }
        if kind == "assignment_expression" {
            let left = node.child_by_field_name("left");
            let right = req(node.child_by_field_name("right"))?;
            states = self.seq([right], states, depth, &mut dfg)?;
            self.computed_from(req(left)?, right, true, &mut states, depth, &mut dfg)?;
            return Ok((sorted(dfg), states));
        }
        if kind == family.increment {
            self.computed_from(node, node, true, &mut states, depth, &mut dfg)?;
            return Ok((sorted(dfg), states));
        }
        if IF.contains(&kind) {
            let mut current = states.clone();
            let mut branches = Vec::new();
            let mut in_else = false;
            let mut has_else = kind.contains("else");
            for child in kids {
                has_else |= child.kind().contains("else");
                if !IF.contains(&child.kind()) && !in_else {
                    current = self.seq([child], current, depth, &mut dfg)?;
                } else {
                    in_else = true;
                    let (temp, branch) = self.dfg(child, &states, depth + 1)?;
                    dfg.extend(temp);
                    branches.push(branch);
                }
            }
            branches.push(current);
            if !has_else {
                branches.push(states);
            }
            return Ok((sorted(dfg), merge_states(branches)));
        }
        if kind == "for_statement" {
            states = self.seq(kids.iter().copied(), states, depth, &mut dfg)?;
            // The update and the body run again after the declaration.
            let after_decl = kids
                .iter()
                .skip_while(|c| c.kind() != "local_variable_declaration")
                .skip(1)
                .copied();
            states = self.seq(after_decl, states, depth, &mut dfg)?;
            return Ok((merge_loop(dfg), states));
        }
        if kind == family.enhanced_for {
            let (name_field, value_field) = family.enhanced_for_fields;
            let name = node.child_by_field_name(name_field);
            let value = node.child_by_field_name(value_field);
            let body = node.child_by_field_name("body");
            for _ in 0..2 {
                states = self.seq([req(value)?], states, depth, &mut dfg)?;
                self.computed_from(req(name)?, req(value)?, true, &mut states, depth, &mut dfg)?;
                states = self.seq([req(body)?], states, depth, &mut dfg)?;
            }
            return Ok((merge_loop(dfg), states));
        }
        if kind == "while_statement" {
            for _ in 0..2 {
                states = self.seq(kids.iter().copied(), states, depth, &mut dfg)?;
            }
            return Ok((merge_loop(dfg), states));
        }
        states = self.seq(kids, states, depth, &mut dfg)?;
        Ok((sorted(dfg), states))
    }
}

/// The (left, right) pairs of a Python assignment or for loop: element-wise when both
/// sides list the same number of items, else the two sides whole.
#[allow(clippy::type_complexity)]
fn python_targets<'t>(
    left: Option<Node<'t>>,
    right: Node<'t>,
) -> Py<(Vec<Option<Node<'t>>>, Vec<Option<Node<'t>>>)> {
    let items = |n: Node<'t>| -> Vec<Option<Node<'t>>> {
        children(n)
            .into_iter()
            .filter(|c| c.kind() != ",")
            .map(Some)
            .collect()
    };
    let mut lefts = items(req(left)?);
    let mut rights = items(right);
    if lefts.len() != rights.len() {
        lefts = vec![left];
        rights = vec![Some(right)];
    }
    if lefts.is_empty() {
        lefts = vec![left];
    }
    if rights.is_empty() {
        rights = vec![Some(right)];
    }
    Ok((lefts, rights))
}
