//! JSONPath as Step Functions accepts it (its Java side uses Jayway JsonPath): the syntax tree,
//! its parser, and its evaluation beside it.
//!
//! A path starts at `$` (the state's input) or `$$` (the Context object). *Reference paths* —
//! what `ResultPath`, `ItemsPath` and the `…Path` fields of Choice and Wait take — select one
//! node by names and indexes only. General paths (`InputPath`, `OutputPath`, `.$` fields) may
//! also use `*`, `..`, unions, slices and filters (`$.items[?(@.price > 10)]`); like Jayway,
//! such an *indefinite* path yields an array of every match.

use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

/// Where a path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the data the state is working on.
    Input,
    /// `$$`: the Context object.
    Context,
    /// `$name`: a workflow variable (`Assign`); [`Path::variable`] names it.
    Variable,
}

/// A compiled JSONPath.
#[derive(Debug, Clone)]
pub struct Path {
    text: Box<str>,
    root: Root,
    /// The variable's name when the root is [`Root::Variable`].
    variable: Option<Box<str>>,
    segs: Vec<Seg>,
    definite: bool,
}

#[derive(Debug, Clone)]
enum Seg {
    Field(String),
    Index(i64),
    Wildcard,
    Fields(Vec<String>),
    Indexes(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Filter(Box<Filter>),
    /// `..` followed by a segment: that segment applied to the node and all its descendants.
    Descend(Box<Seg>),
}

#[derive(Debug, Clone)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Exists(Operand),
    Cmp(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Operand {
    /// `@…`: relative to the element under test.
    Current(Vec<Seg>),
    /// `$…`: relative to the document root.
    Root(Vec<Seg>),
    Literal(Value),
}

/// Why a definite path selected nothing, in Jayway's words (which AWS passes on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

/// Why a path was refused at load: what was wrong, and where in the text parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    text: Box<str>,
    position: usize,
    kind: PathErrorKind,
}

/// What was wrong with a refused path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathErrorKind {
    /// The text does not start with `$`.
    #[error("it must start with '$'")]
    MissingRoot,
    /// Something follows a complete path.
    #[error("unexpected '{0}'")]
    Trailing(String),
    /// `.` with no name after it.
    #[error("a name is missing after '.'")]
    MissingName,
    /// `[?` not followed by `(`.
    #[error("a filter must be written [?(…)]")]
    FilterWithoutParenthesis,
    /// `[?(…` with no closing `)`.
    #[error("a filter is missing its closing ')'")]
    UnclosedFilter,
    /// `[…` with no closing `]`.
    #[error("a '[' is not closed")]
    UnclosedBracket,
    /// A union of names holds something other than a quoted name.
    #[error("expected a quoted name")]
    ExpectedQuotedName,
    /// A quoted name runs to the end of the text.
    #[error("a quoted name is not closed")]
    UnclosedQuote,
    /// Digits that do not make an index (too large).
    #[error("'{0}' is not an index")]
    InvalidIndex(String),
    /// `[]` holding nothing a path can select with.
    #[error("expected an index, a quoted name, '*' or a filter inside '[]'")]
    ExpectedSelector,
    /// A union of indexes with a `,` not followed by an index.
    #[error("expected an index after ','")]
    ExpectedIndex,
    /// A `(` inside a filter with no closing `)`.
    #[error("a '(' in a filter is not closed")]
    UnclosedParenthesis,
    /// `=~`, which Step Functions' JSONPath does not take.
    #[error("regular expressions (=~) in filters are not supported")]
    RegularExpression,
    /// A filter operand that is no path, string, number, boolean or null.
    #[error("'{0}' is not a value a filter can compare")]
    InvalidLiteral(String),
    /// The text ends inside a filter.
    #[error("a filter ends too early")]
    FilterEndsEarly,
    /// Filters, parentheses and `!` nested past [`MAX_NESTING`].
    #[error("filters, parentheses and '!' are nested more than {MAX_NESTING} deep")]
    TooDeep,
    /// A wildcard, slice, union or filter where only a reference path is allowed.
    #[error("wildcards, slices, unions and filters are not allowed here")]
    NotAReferencePath,
}

impl PathError {
    fn new(text: &str, position: usize, kind: PathErrorKind) -> Self {
        PathError {
            text: text.into(),
            position,
            kind,
        }
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset in [`PathError::text`] where parsing stopped.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was wrong.
    pub fn kind(&self) -> &PathErrorKind {
        &self.kind
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            PathErrorKind::NotAReferencePath => "reference path",
            _ => "JSONPath",
        };
        write!(
            f,
            "'{}' is not a valid {what}: {} (at character {})",
            self.text,
            self.kind,
            character_number(&self.text, self.position)
        )
    }
}

impl std::error::Error for PathError {}

/// The length in bytes of the variable name at the start of `s` (0 if none): a letter or `_`
/// then letters, digits and `_` (AWS's names are Unicode identifiers; see
/// `definition::reader::valid_variable_name`).
pub(crate) fn variable_name_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = if i == 0 {
            c.is_alphabetic() || c == '_'
        } else {
            c.is_alphanumeric() || c == '_'
        };
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// The 1-based number of the character at byte `position` of `text`, as people count them.
pub(crate) fn character_number(text: &str, position: usize) -> usize {
    let before = text.get(..position).unwrap_or(text);
    before.chars().count() + 1
}

impl Path {
    /// Parses a path.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        Path::parse_marking_indefinite(text).map(|(path, _)| path)
    }

    /// Parses a path, with the byte offset of its first indefinite segment, if any.
    fn parse_marking_indefinite(text: &str) -> Result<(Path, Option<usize>), PathError> {
        let mut variable = None;
        let (root, rest) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            // `$name…` reads a workflow variable; a name starts like an identifier, so `$.x`,
            // `$[0]` and `$` alone stay paths over the input.
            let name_len = variable_name_len(rest);
            if name_len > 0 {
                variable = Some(rest[..name_len].into());
                (Root::Variable, &rest[name_len..])
            } else {
                (Root::Input, rest)
            }
        } else {
            return Err(PathError::new(text, 0, PathErrorKind::MissingRoot));
        };
        let root_len = text.len() - rest.len();
        let mut p = Parser {
            s: rest.as_bytes(),
            src: rest,
            i: 0,
            embedded: false,
            depth: 0,
            first_indefinite: None,
        };
        let segs = p
            .segments()
            .map_err(|kind| PathError::new(text, root_len + p.i, kind))?;
        if p.i != p.s.len() {
            return Err(PathError::new(
                text,
                root_len + p.i,
                PathErrorKind::Trailing(rest[p.i..].to_string()),
            ));
        }
        let definite = segs
            .iter()
            .all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)));
        let path = Path {
            text: text.into(),
            root,
            variable,
            segs,
            definite,
        };
        Ok((path, p.first_indefinite.map(|at| root_len + at)))
    }

    /// Parses a *reference path*: names and indexes only, one node.
    pub fn parse_reference(text: &str) -> Result<Path, PathError> {
        let (p, first_indefinite) = Path::parse_marking_indefinite(text)?;
        if !p.definite {
            return Err(PathError::new(
                text,
                first_indefinite.unwrap_or(0),
                PathErrorKind::NotAReferencePath,
            ));
        }
        Ok(p)
    }

    /// The path as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `$`, `$$` or a variable.
    pub fn root(&self) -> Root {
        self.root
    }

    /// The variable a `$name…` path reads.
    pub fn variable(&self) -> Option<&str> {
        self.variable.as_deref()
    }

    /// True for `$` (or `$$`) alone.
    pub fn is_root(&self) -> bool {
        self.segs.is_empty()
    }

    /// True when the path can select at most one node (no wildcard, filter, …).
    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// The segments after the root, as the public read-only view shows them (`crate::view`).
    pub(crate) fn segment_views(&self) -> Vec<crate::view::PathSegment<'_>> {
        self.segs.iter().map(Seg::view).collect()
    }

    /// Evaluates the path on `doc`, as Step Functions does: a definite path yields its one node
    /// (or [`Missing`]); an indefinite one yields an array of all matches, possibly empty.
    pub fn select(&self, doc: &Value) -> Result<Value, Missing> {
        if self.definite {
            self.get(doc).cloned()
        } else {
            let mut out = Vec::new();
            let doc = Doc {
                value: doc,
                roots: RefCell::new(Vec::new()),
            };
            select_into(&self.segs, doc.value, &doc, &mut out);
            Ok(Value::Array(out.into_iter().cloned().collect()))
        }
    }

    /// Evaluates a definite path without copying. Indefinite paths report [`Missing`].
    pub fn get<'a>(&self, doc: &'a Value) -> Result<&'a Value, Missing> {
        if !self.definite {
            return Err(Missing(format!("'{}' is not a definite path", self.text)));
        }
        let mut cur = doc;
        for (i, seg) in self.segs.iter().enumerate() {
            let last = i + 1 == self.segs.len();
            let next = match (seg, cur) {
                (Seg::Field(name), Value::Object(map)) => map.get(name),
                (Seg::Index(idx), Value::Array(items)) => {
                    resolve_index(*idx, items.len()).map(|k| &items[k])
                }
                (Seg::Field(name), other) => {
                    return Err(Missing(format!(
                        "Expected to find an object with property ['{name}'] in path {} but \
                         found '{}'. This is not a json object according to the JsonProvider: \
                         'com.jayway.jsonpath.spi.json.JacksonJsonNodeJsonProvider'.",
                        normalized(&self.segs[..i]),
                        java_class(other)
                    )))
                }
                (Seg::Index(_), other) => {
                    return Err(Missing(format!(
                        "Filter: [{}] can only be applied to arrays. Current context is: {}",
                        seg_brackets(seg),
                        other
                    )))
                }
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None if last => {
                    return Err(Missing(format!(
                        "No results for path: {}",
                        normalized(&self.segs)
                    )))
                }
                None => {
                    return Err(Missing(format!(
                        "Missing property in path {}",
                        normalized(&self.segs[..=i])
                    )))
                }
            }
        }
        Ok(cur)
    }

    /// Writes `value` at this reference path inside `doc`, creating missing objects on the way
    /// (what `ResultPath` does). Fails when a node on the way is not an object (or the index is
    /// out of range).
    pub fn set(&self, doc: &mut Value, value: Value) -> Result<(), ()> {
        let Some((last, init)) = self.segs.split_last() else {
            *doc = value;
            return Ok(());
        };
        let mut cur = doc;
        for seg in init {
            cur = match (seg, cur) {
                (Seg::Field(name), Value::Object(map)) => map
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                (Seg::Index(idx), Value::Array(items)) => {
                    let k = resolve_index(*idx, items.len()).ok_or(())?;
                    &mut items[k]
                }
                _ => return Err(()),
            };
        }
        match (last, cur) {
            (Seg::Field(name), Value::Object(map)) => {
                map.insert(name.clone(), value);
                Ok(())
            }
            (Seg::Index(idx), Value::Array(items)) => {
                let k = resolve_index(*idx, items.len()).ok_or(())?;
                items[k] = value;
                Ok(())
            }
            _ => Err(()),
        }
    }
}

impl Seg {
    fn view(&self) -> crate::view::PathSegment<'_> {
        use crate::view::PathSegment;
        match self {
            Seg::Field(name) => PathSegment::Field(name),
            Seg::Index(index) => PathSegment::Index(*index),
            Seg::Wildcard => PathSegment::Wildcard,
            Seg::Fields(names) => PathSegment::Fields(names),
            Seg::Indexes(indexes) => PathSegment::Indexes(indexes),
            Seg::Slice(start, end, step) => PathSegment::Slice {
                start: *start,
                end: *end,
                step: *step,
            },
            Seg::Filter(_) => PathSegment::Filter,
            Seg::Descend(inner) => PathSegment::Descendants(Box::new(inner.view())),
        }
    }
}

fn resolve_index(idx: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let k = if idx < 0 { len + idx } else { idx };
    if (0..len).contains(&k) {
        usize::try_from(k).ok()
    } else {
        None
    }
}

fn java_class(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "java.lang.String",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(_) => "java.lang.Integer",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Array(_) => "java.util.ArrayList",
        Value::Null => "null",
        Value::Object(_) => "java.util.LinkedHashMap",
    }
}

fn seg_brackets(seg: &Seg) -> String {
    match seg {
        Seg::Index(i) => i.to_string(),
        Seg::Field(f) => format!("'{f}'"),
        _ => "*".into(),
    }
}

/// Jayway's normalized form, `$['a'][0]`, used in its messages.
fn normalized(segs: &[Seg]) -> String {
    let mut s = String::from("$");
    for seg in segs {
        match seg {
            Seg::Field(f) => {
                let _ = write!(s, "['{f}']");
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
            _ => s.push_str("[*]"),
        }
    }
    s
}

/// The document an indefinite path runs on, and the values of its filters' `$…` operands,
/// each computed once: they do not depend on the element under test. (Found by fuzzing:
/// computed per element, filters nested as `$[?($[?($[?(…)])])]` took time exponential in
/// their depth, 14 s and more for a path of 900 bytes.)
struct Doc<'a> {
    value: &'a Value,
    roots: RefCell<Vec<(*const Operand, RootValue)>>,
}

/// What a filter's `$…` operand selected (`None`: nothing, for a definite path).
type RootValue = Option<Rc<Value>>;

fn select_into<'a>(segs: &[Seg], node: &'a Value, root: &Doc<'a>, out: &mut Vec<&'a Value>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push(node);
        return;
    };
    match seg {
        Seg::Descend(inner) => {
            let mut stack = vec![node];
            let mut all = Vec::new();
            while let Some(n) = stack.pop() {
                all.push(n);
                match n {
                    Value::Object(m) => stack.extend(m.values().rev()),
                    Value::Array(a) => stack.extend(a.iter().rev()),
                    _ => {}
                }
            }
            for n in all {
                let mut hits = Vec::new();
                apply_seg(inner, n, root, &mut hits);
                for h in hits {
                    select_into(rest, h, root, out);
                }
            }
        }
        _ => {
            let mut hits = Vec::new();
            apply_seg(seg, node, root, &mut hits);
            for h in hits {
                select_into(rest, h, root, out);
            }
        }
    }
}

fn apply_seg<'a>(seg: &Seg, node: &'a Value, root: &Doc<'a>, out: &mut Vec<&'a Value>) {
    match (seg, node) {
        (Seg::Field(f), Value::Object(m)) => out.extend(m.get(f)),
        (Seg::Fields(fs), Value::Object(m)) => out.extend(fs.iter().filter_map(|f| m.get(f))),
        (Seg::Index(i), Value::Array(a)) => out.extend(resolve_index(*i, a.len()).map(|k| &a[k])),
        (Seg::Indexes(is), Value::Array(a)) => out.extend(
            is.iter()
                .filter_map(|i| resolve_index(*i, a.len()).map(|k| &a[k])),
        ),
        (Seg::Wildcard, Value::Object(m)) => out.extend(m.values()),
        (Seg::Wildcard, Value::Array(a)) => out.extend(a.iter()),
        (Seg::Slice(start, end, step), Value::Array(a)) => slice(a, *start, *end, *step, out),
        (Seg::Filter(f), Value::Array(a)) => out.extend(a.iter().filter(|el| f.test(el, root))),
        (Seg::Filter(f), Value::Object(m)) => out.extend(m.values().filter(|el| f.test(el, root))),
        (Seg::Descend(inner), _) => select_into(std::slice::from_ref(inner), node, root, out),
        _ => {}
    }
}

fn slice<'a>(
    a: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'a Value>,
) {
    let len = a.len() as i64;
    let step = step.unwrap_or(1);
    if step <= 0 {
        return;
    }
    let norm = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
    let s = start.map(norm).unwrap_or(0);
    let e = end.map(norm).unwrap_or(len);
    let mut k = s;
    while k < e {
        if let Some(v) = usize::try_from(k).ok().and_then(|k| a.get(k)) {
            out.push(v);
        }
        k += step;
    }
}

impl Filter {
    fn test(&self, el: &Value, root: &Doc<'_>) -> bool {
        match self {
            Filter::Or(a, b) => a.test(el, root) || b.test(el, root),
            Filter::And(a, b) => a.test(el, root) && b.test(el, root),
            Filter::Not(f) => !f.test(el, root),
            Filter::Exists(op) => match op.resolve(el, root).as_deref() {
                Some(Value::Bool(b)) if matches!(op, Operand::Literal(_)) => *b,
                Some(_) => true,
                None => false,
            },
            Filter::Cmp(l, op, r) => {
                let (Some(l), Some(r)) = (l.resolve(el, root), r.resolve(el, root)) else {
                    return false;
                };
                compare(&l, *op, &r)
            }
        }
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        CmpOp::Eq => ord.map_or(l == r, |o| o == Ordering::Equal),
        CmpOp::Ne => ord.map_or(l != r, |o| o != Ordering::Equal),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

impl Operand {
    fn resolve(&self, el: &Value, root: &Doc<'_>) -> Option<Rc<Value>> {
        match self {
            Operand::Literal(v) => Some(Rc::new(v.clone())),
            Operand::Current(segs) => Operand::select(segs, el, root).map(Rc::new),
            Operand::Root(segs) => {
                let key: *const Operand = self;
                let known = root
                    .roots
                    .borrow()
                    .iter()
                    .find(|(k, _)| std::ptr::eq(*k, key))
                    .map(|(_, v)| v.clone());
                if let Some(value) = known {
                    return value;
                }
                let value = Operand::select(segs, root.value, root).map(Rc::new);
                root.roots.borrow_mut().push((key, value.clone()));
                value
            }
        }
    }

    fn select(segs: &[Seg], start: &Value, root: &Doc<'_>) -> Option<Value> {
        let definite = segs
            .iter()
            .all(|s| matches!(s, Seg::Field(_) | Seg::Index(_)));
        let mut out = Vec::new();
        select_into(segs, start, root, &mut out);
        if definite {
            out.first().map(|v| (*v).clone())
        } else {
            Some(Value::Array(out.into_iter().cloned().collect()))
        }
    }
}

struct Parser<'s> {
    s: &'s [u8],
    src: &'s str,
    i: usize,
    /// Inside a filter: a name ends at whitespace, `)` or an operator too.
    embedded: bool,
    /// How deep the filters, their parentheses and `!`s nest here (see [`MAX_NESTING`]).
    depth: usize,
    /// Where the first segment that can select more than one node starts, outside filters.
    first_indefinite: Option<usize>,
}

/// Found with the jsonpath fuzz target (a crafted input): the parser recurses once per filter,
/// parenthesis and `!`, so a path of some thousands of `(` overflowed the stack, which aborts
/// the process (`states validate`, `run`). Nobody writes filters nested this deep.
const MAX_NESTING: usize = 32;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn segments(&mut self) -> Result<Vec<Seg>, PathErrorKind> {
        let mut segs = Vec::new();
        loop {
            let start = self.i;
            let seg = match self.peek() {
                Some(b'.') if self.peek_at(1) == Some(b'.') => {
                    self.i += 2;
                    let inner = if self.peek() == Some(b'[') {
                        self.bracket()?
                    } else {
                        self.dot_member()?
                    };
                    Seg::Descend(Box::new(inner))
                }
                Some(b'.') => {
                    self.i += 1;
                    self.dot_member()?
                }
                Some(b'[') => self.bracket()?,
                _ => return Ok(segs),
            };
            let indefinite = !matches!(seg, Seg::Field(_) | Seg::Index(_));
            if indefinite && !self.embedded && self.first_indefinite.is_none() {
                self.first_indefinite = Some(start);
            }
            segs.push(seg);
        }
    }

    fn dot_member(&mut self) -> Result<Seg, PathErrorKind> {
        if self.eat(b'*') {
            return Ok(Seg::Wildcard);
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            let stop = c == b'.'
                || c == b'['
                || (self.embedded
                    && matches!(
                        c,
                        b' ' | b'\t' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b','
                    ));
            if stop {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(PathErrorKind::MissingName);
        }
        Ok(Seg::Field(self.src[start..self.i].to_string()))
    }

    fn bracket(&mut self) -> Result<Seg, PathErrorKind> {
        self.i += 1; // '['
        self.ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Seg::Wildcard
            }
            Some(b'?') => {
                self.i += 1;
                self.ws();
                if !self.eat(b'(') {
                    return Err(PathErrorKind::FilterWithoutParenthesis);
                }
                let f = self.nested(Parser::filter_or)?;
                self.ws();
                if !self.eat(b')') {
                    return Err(PathErrorKind::UnclosedFilter);
                }
                Seg::Filter(Box::new(f))
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                self.ws();
                while self.eat(b',') {
                    self.ws();
                    names.push(self.quoted()?);
                    self.ws();
                }
                if names.len() == 1 {
                    Seg::Field(names.remove(0))
                } else {
                    Seg::Fields(names)
                }
            }
            _ => self.index_or_slice()?,
        };
        self.ws();
        if !self.eat(b']') {
            return Err(PathErrorKind::UnclosedBracket);
        }
        Ok(seg)
    }

    fn quoted(&mut self) -> Result<String, PathErrorKind> {
        // Found by fuzzing: after a ',' in a union the next byte was taken as the quote, even a
        // letter (`$['a',xyx]` selected "y") or the first byte of a multi-byte character (a
        // panic on slicing inside it).
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(PathErrorKind::ExpectedQuotedName),
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let mut chars = rest.chars();
            match chars.next() {
                None => return Err(PathErrorKind::UnclosedQuote),
                Some(c) if c as u32 == u32::from(q) => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    let n = chars.next().ok_or(PathErrorKind::UnclosedQuote)?;
                    out.push(n);
                    self.i += 1 + n.len_utf8();
                }
                Some(c) => {
                    out.push(c);
                    self.i += c.len_utf8();
                }
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, PathErrorKind> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == start {
            return Ok(None);
        }
        self.src[start..self.i]
            .parse::<i64>()
            .map(Some)
            .map_err(|_| PathErrorKind::InvalidIndex(self.src[start..self.i].to_string()))
    }

    fn index_or_slice(&mut self) -> Result<Seg, PathErrorKind> {
        let first = self.int()?;
        self.ws();
        if self.peek() == Some(b':') {
            self.i += 1;
            let end = self.int()?;
            self.ws();
            let step = if self.eat(b':') { self.int()? } else { None };
            return Ok(Seg::Slice(first, end, step));
        }
        let first = first.ok_or(PathErrorKind::ExpectedSelector)?;
        let mut idx = vec![first];
        self.ws();
        while self.eat(b',') {
            idx.push(self.int()?.ok_or(PathErrorKind::ExpectedIndex)?);
            self.ws();
        }
        Ok(if idx.len() == 1 {
            Seg::Index(first)
        } else {
            Seg::Indexes(idx)
        })
    }

    fn filter_or(&mut self) -> Result<Filter, PathErrorKind> {
        let mut left = self.filter_and()?;
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, PathErrorKind> {
        let mut left = self.filter_unary()?;
        loop {
            self.ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                let right = self.filter_unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, PathErrorKind> {
        self.ws();
        if self.peek() == Some(b'!') && self.peek_at(1) != Some(b'=') {
            self.i += 1;
            return Ok(Filter::Not(Box::new(self.nested(Parser::filter_unary)?)));
        }
        if self.eat(b'(') {
            let f = self.nested(Parser::filter_or)?;
            self.ws();
            if !self.eat(b')') {
                return Err(PathErrorKind::UnclosedParenthesis);
            }
            return Ok(f);
        }
        let left = self.operand()?;
        self.ws();
        let op = if self.s[self.i..].starts_with(b"==") {
            Some((CmpOp::Eq, 2))
        } else if self.s[self.i..].starts_with(b"!=") {
            Some((CmpOp::Ne, 2))
        } else if self.s[self.i..].starts_with(b"<=") {
            Some((CmpOp::Le, 2))
        } else if self.s[self.i..].starts_with(b">=") {
            Some((CmpOp::Ge, 2))
        } else if self.peek() == Some(b'<') {
            Some((CmpOp::Lt, 1))
        } else if self.peek() == Some(b'>') {
            Some((CmpOp::Gt, 1))
        } else if self.s[self.i..].starts_with(b"=~") {
            return Err(PathErrorKind::RegularExpression);
        } else {
            None
        };
        match op {
            Some((op, n)) => {
                self.i += n;
                let right = self.operand()?;
                Ok(Filter::Cmp(left, op, right))
            }
            None => Ok(Filter::Exists(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, PathErrorKind> {
        self.ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Current(self.embedded_segments()?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Operand::Root(self.embedded_segments()?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(_) => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                let v = match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => serde_json::from_str::<serde_json::Number>(word)
                        .map(Value::Number)
                        .map_err(|_| PathErrorKind::InvalidLiteral(word.to_string()))?,
                };
                Ok(Operand::Literal(v))
            }
            None => Err(PathErrorKind::FilterEndsEarly),
        }
    }

    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, PathErrorKind>,
    ) -> Result<T, PathErrorKind> {
        if self.depth == MAX_NESTING {
            return Err(PathErrorKind::TooDeep);
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn embedded_segments(&mut self) -> Result<Vec<Seg>, PathErrorKind> {
        let was = self.embedded;
        self.embedded = true;
        let r = self.segments();
        self.embedded = was;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, doc: &Value) -> Value {
        Path::parse(p).unwrap().select(doc).unwrap()
    }

    #[test]
    fn definite_paths() {
        let doc = json!({"a": {"b": [1, 2, {"c": "x"}]}, "weird-name": 1, "sp ace": 2});
        assert_eq!(sel("$", &doc), doc);
        assert_eq!(sel("$.a.b[2].c", &doc), json!("x"));
        assert_eq!(sel("$.a.b[-1].c", &doc), json!("x"));
        assert_eq!(sel("$['a']['b'][0]", &doc), json!(1));
        assert_eq!(sel("$.weird-name", &doc), json!(1));
        assert_eq!(sel("$['sp ace']", &doc), json!(2));
    }

    #[test]
    fn missing_messages_follow_jayway() {
        let doc = json!({"a": {"b": 1}});
        let p = Path::parse("$.x").unwrap();
        assert_eq!(p.select(&doc).unwrap_err().0, "No results for path: $['x']");
        let p = Path::parse("$.no.such.path").unwrap();
        assert_eq!(
            p.select(&doc).unwrap_err().0,
            "Missing property in path $['no']"
        );
        let p = Path::parse("$.a.c").unwrap();
        assert_eq!(
            p.select(&doc).unwrap_err().0,
            "No results for path: $['a']['c']"
        );
    }

    #[test]
    fn indefinite_paths() {
        let doc = json!({"items": [{"price": 5, "n": "a"}, {"price": 15, "n": "b"}, {"price": 25, "n": "c"}]});
        assert_eq!(sel("$.items[?(@.price > 10)].n", &doc), json!(["b", "c"]));
        assert_eq!(
            sel("$.items[?(@.price > 10 && @.n != 'c')].n", &doc),
            json!(["b"])
        );
        assert_eq!(
            sel("$.items[?(@.n == 'a' || @.price >= 25)].price", &doc),
            json!([5, 25])
        );
        assert_eq!(sel("$.items[*].n", &doc), json!(["a", "b", "c"]));
        assert_eq!(sel("$.items[0:2].n", &doc), json!(["a", "b"]));
        assert_eq!(sel("$.items[-1:].n", &doc), json!(["c"]));
        assert_eq!(sel("$..n", &doc), json!(["a", "b", "c"]));
        assert_eq!(sel("$.items[0,2].n", &doc), json!(["a", "c"]));
        assert_eq!(sel("$.items[?(@.missing)]", &doc), json!([]));
        assert_eq!(
            sel("$.items[?(!@.missing)].n", &doc),
            json!(["a", "b", "c"])
        );
        assert_eq!(sel("$.nothing[*]", &doc), json!([]));
    }

    #[test]
    fn set_creates_objects() {
        let mut doc = json!({"a": 1});
        Path::parse("$.b.c")
            .unwrap()
            .set(&mut doc, json!(2))
            .unwrap();
        assert_eq!(doc, json!({"a": 1, "b": {"c": 2}}));
        assert!(Path::parse("$.a.c")
            .unwrap()
            .set(&mut doc, json!(2))
            .is_err());
        let mut s = json!("str");
        assert!(Path::parse("$.x").unwrap().set(&mut s, json!(1)).is_err());
    }

    #[test]
    fn bad_paths_are_refused() {
        for p in [
            "a",
            "$.",
            "$[",
            "$.a[?(@.x > )]",
            "$.a[?(@.x =~ /a/)]",
            "$[1",
        ] {
            assert!(Path::parse(p).is_err(), "{p}");
        }
        assert!(Path::parse_reference("$.a[*]").is_err());
        assert!(Path::parse_reference("$$.Execution.Id").is_ok());
    }

    #[test]
    fn refusals_say_what_and_where() {
        let refused = |text: &str| Path::parse(text).unwrap_err();
        let e = refused("a.b");
        assert_eq!((e.position(), e.kind()), (0, &PathErrorKind::MissingRoot));
        let e = refused("$.a.");
        assert_eq!((e.position(), e.kind()), (4, &PathErrorKind::MissingName));
        assert_eq!(
            e.to_string(),
            "'$.a.' is not a valid JSONPath: a name is missing after '.' (at character 5)"
        );
        let e = refused("$$.a[1");
        assert_eq!(
            (e.position(), e.kind()),
            (6, &PathErrorKind::UnclosedBracket)
        );
        let e = refused("$.a[?(@.x =~ /a/)]");
        assert_eq!(e.kind(), &PathErrorKind::RegularExpression);
        assert_eq!(&e.text()[e.position()..e.position() + 2], "=~");
        let e = refused("$['a']x");
        assert_eq!(
            (e.position(), e.kind()),
            (6, &PathErrorKind::Trailing("x".into()))
        );
        // Characters, not bytes, in the message: "é" is two bytes.
        let e = refused("$.é[");
        assert_eq!(e.position(), 5);
        assert!(e.to_string().ends_with("(at character 5)"), "{e}");

        let e = Path::parse_reference("$.a.b[*].c").unwrap_err();
        assert_eq!(e.kind(), &PathErrorKind::NotAReferencePath);
        assert_eq!(e.position(), 5);
        assert!(e
            .to_string()
            .starts_with("'$.a.b[*].c' is not a valid reference path"));
        // A filter's own wildcard is not what makes the path indefinite; the filter is.
        let e = Path::parse_reference("$.a[?(@.b[*])]").unwrap_err();
        assert_eq!(e.position(), 3);
    }

    #[test]
    fn a_dollar_name_reads_a_variable() {
        let p = Path::parse("$order.items[0].sku").unwrap();
        assert_eq!((p.root(), p.variable()), (Root::Variable, Some("order")));
        assert!(p.is_definite());
        assert_eq!(
            p.select(&json!({"items": [{"sku": "A1"}]})).unwrap(),
            json!("A1")
        );
        let whole = Path::parse("$_x9").unwrap();
        assert_eq!((whole.variable(), whole.is_root()), (Some("_x9"), true));
        for input in ["$", "$.a", "$[0]", "$..a"] {
            assert_eq!(Path::parse(input).unwrap().root(), Root::Input, "{input}");
        }
        assert_eq!(Path::parse("$$.State").unwrap().root(), Root::Context);
        assert!(Path::parse("$9lives").is_err());
    }
}
