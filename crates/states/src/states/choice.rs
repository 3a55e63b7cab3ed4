//! `Choice`: the first rule that holds picks the next state; else `Default`; else
//! `States.NoChoiceMatched`.
//!
//! As on AWS, a comparison between values of different types is simply false, but a
//! `Variable` (or `…Path` operand) that selects nothing is a `States.Runtime` error — except for
//! `IsPresent`, whose whole point is to ask.

use crate::definition::{Assign, DefinitionReader, JTemplate, Lang, Obj};
use crate::error::{names, StatesError};
use crate::jsonata::{cause, Expr};
use crate::path::Path;
use crate::run::{Extra, StateRun};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;
use std::cmp::Ordering;

pub(crate) const FIELDS: &[&str] = &[
    "Choices",
    "Default",
    "InputPath",
    "OutputPath",
    "Output",
    "Assign",
];

#[derive(Debug)]
pub(crate) struct Choice {
    pub rules: Vec<(Rule, usize)>,
    /// Each rule's own `Assign` and (JSONata) `Output`, in the order of `rules`.
    pub rule_extras: Vec<RuleExtra>,
    pub default: Option<usize>,
}

/// What a top-level rule does besides choosing: used when it is the one that matched.
#[derive(Debug, Default)]
pub(crate) struct RuleExtra {
    pub assign: Option<Assign>,
    pub output: Option<JTemplate>,
}

#[derive(Debug)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    /// `operator` is the comparison's key as written (`StringEqualsPath`), for the public view.
    Test {
        var: Path,
        op: Op,
        rhs: Rhs,
        operator: Box<str>,
    },
    /// JSONata: `Condition`, which must give a boolean.
    Condition(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Num,
    Bool,
    Ts,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Cmp(Ty, Ordering, bool /* or equal */),
    Eq(Ty),
    Matches,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

#[derive(Debug)]
pub(crate) enum Rhs {
    Value(Value),
    Path(Path),
    /// `StringMatches`: the pattern as written, and compiled.
    Pattern {
        text: String,
        glob: Vec<Glob>,
    },
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    Lit(char),
    Star,
}

fn operator(name: &str) -> Option<(Op, bool /* path variant */)> {
    let (base, path) = match name.strip_suffix("Path") {
        Some(b) if !b.starts_with("Is") => (b, true),
        _ => (name, false),
    };
    let ty = |p: &str| match p {
        "String" => Some(Ty::Str),
        "Numeric" => Some(Ty::Num),
        "Boolean" => Some(Ty::Bool),
        "Timestamp" => Some(Ty::Ts),
        _ => None,
    };
    let op = match base {
        "IsNull" => Op::IsNull,
        "IsPresent" => Op::IsPresent,
        "IsNumeric" => Op::IsNumeric,
        "IsString" => Op::IsString,
        "IsBoolean" => Op::IsBoolean,
        "IsTimestamp" => Op::IsTimestamp,
        "StringMatches" if !path => Op::Matches,
        _ => {
            for (suffix, ord, eq) in [
                ("LessThanEquals", Ordering::Less, true),
                ("GreaterThanEquals", Ordering::Greater, true),
                ("LessThan", Ordering::Less, false),
                ("GreaterThan", Ordering::Greater, false),
            ] {
                if let Some(t) = base.strip_suffix(suffix).and_then(ty) {
                    if t != Ty::Bool {
                        return Some((Op::Cmp(t, ord, eq), path));
                    }
                }
            }
            return base
                .strip_suffix("Equals")
                .and_then(ty)
                .map(|t| (Op::Eq(t), path));
        }
    };
    Some((op, path))
}

fn glob(pattern: &str) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(Glob::Lit(e)),
                None => out.push(Glob::Lit('\\')),
            },
            '*' => out.push(Glob::Star),
            c => out.push(Glob::Lit(c)),
        }
    }
    out
}

fn glob_match(p: &[Glob], s: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last star.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Glob::Lit(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
            }
            Some(Glob::Star) => {
                star = Some((pi, si));
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|g| *g == Glob::Star)
}

/// A timestamp as Step Functions accepts it: RFC 3339 with a `T` and an offset.
pub(crate) fn timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

const RULE_KEYS: &[&str] = &[
    "Variable",
    "Next",
    "And",
    "Or",
    "Not",
    "Comment",
    "Assign",
    "Condition",
    "Output",
];

/// A JSONata rule: `Condition`, `Next`, and optionally `Assign` and `Output`.
fn parse_condition_rule(reader: &mut DefinitionReader, obj: &Obj) -> Option<Rule> {
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "Condition" | "Next" | "Assign" | "Output" | "Comment"
        ) {
            reader.problem_at(
                key,
                format!("The field \"{key}\" is not supported by Step Functions when the QueryLanguage is JSONata"),
            );
        }
    }
    let Some(text) = obj.get("Condition") else {
        reader.problem("A choice rule must have 'Condition'");
        return None;
    };
    match text.as_str().and_then(crate::jsonata::expression_text) {
        Some(t) => reader
            .at("Condition", |r| r.expression(t))
            .map(Rule::Condition),
        // Guess: a literal boolean is a condition that always (or never) holds.
        None if text.is_boolean() => reader
            .at("Condition", |r| r.expression(&text.to_string()))
            .map(Rule::Condition),
        None => {
            reader.problem_at(
                "Condition",
                "Condition must be a JSONata expression string '{% … %}' or a boolean",
            );
            None
        }
    }
}

fn parse_rule(reader: &mut DefinitionReader, v: &Value, top: bool) -> Option<Rule> {
    let Some(obj) = v.as_object() else {
        reader.problem("A choice rule must be an object");
        return None;
    };
    if top && !obj.contains_key("Next") {
        reader.problem("A choice rule must have 'Next'");
    }
    if reader.lang == Some(Lang::Jsonata) {
        return parse_condition_rule(reader, obj);
    }
    reader.check_language_fields(obj, Lang::JsonPath);
    if !top && obj.contains_key("Assign") {
        reader.problem_at("Assign", "Only top-level choice rules can have 'Assign'");
    }
    if !top && obj.contains_key("Next") {
        reader.problem_at("Next", "Only top-level choice rules can have 'Next'");
    }
    let combos: Vec<&str> = ["And", "Or", "Not"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let ops: Vec<&String> = obj
        .keys()
        .filter(|k| !RULE_KEYS.contains(&k.as_str()))
        .collect();
    for k in &ops {
        if operator(k).is_none() {
            reader.problem_at(
                k,
                format!("The field \"{k}\" is not supported by Step Functions"),
            );
        }
    }
    let ops: Vec<&String> = ops.into_iter().filter(|k| operator(k).is_some()).collect();
    if combos.len() + ops.len() != 1 {
        reader.problem(
            "A choice rule must have exactly one comparison operator, or one of And, Or, Not",
        );
        return None;
    }
    if let Some(&c) = combos.first() {
        if obj.contains_key("Variable") {
            reader.problem_at("Variable", format!("'{c}' rules cannot have a 'Variable'"));
        }
        let inner = obj.get(c)?;
        return reader.at(c, |reader| match (c, inner) {
            ("Not", v) => parse_rule(reader, v, false).map(|r| Rule::Not(Box::new(r))),
            (_, Value::Array(items)) if !items.is_empty() => {
                let rules: Vec<Option<Rule>> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| reader.at(i.to_string(), |reader| parse_rule(reader, v, false)))
                    .collect();
                let rules: Option<Vec<Rule>> = rules.into_iter().collect();
                rules.map(|r| {
                    if c == "And" {
                        Rule::And(r)
                    } else {
                        Rule::Or(r)
                    }
                })
            }
            _ => {
                reader.problem(format!("'{c}' must be a non-empty array of choice rules"));
                None
            }
        });
    }
    let key = ops[0].as_str();
    let (op, is_path) = operator(key)?;
    let var = match obj.get("Variable") {
        Some(_) => reader.path_field(obj, "Variable", false),
        None => {
            reader.problem("A comparison must have a 'Variable'");
            None
        }
    };
    let raw = &obj[key];
    let rhs = if is_path {
        reader.path_field(obj, key, true).map(Rhs::Path)
    } else {
        let ok = match op {
            Op::Eq(Ty::Str) | Op::Cmp(Ty::Str, ..) => raw.is_string(),
            Op::Eq(Ty::Num) | Op::Cmp(Ty::Num, ..) => raw.is_number(),
            Op::Eq(Ty::Bool) => raw.is_boolean(),
            Op::Eq(Ty::Ts) | Op::Cmp(Ty::Ts, ..) => raw.as_str().and_then(timestamp).is_some(),
            Op::Matches => raw.is_string(),
            _ => raw.is_boolean(),
        };
        if !ok {
            reader.problem_at(
                key,
                format!("The value of '{key}' has the wrong type: {raw}"),
            );
            None
        } else {
            Some(match (op, raw) {
                (Op::Matches, Value::String(p)) => Rhs::Pattern {
                    text: p.clone(),
                    glob: glob(p),
                },
                (Op::Eq(_) | Op::Cmp(..), v) => Rhs::Value(v.clone()),
                (_, v) => Rhs::Flag(v.as_bool().unwrap_or(false)),
            })
        }
    };
    Some(Rule::Test {
        var: var?,
        op,
        rhs: rhs?,
        operator: key.into(),
    })
}

pub(crate) fn parse(reader: &mut DefinitionReader, obj: &Obj) -> Option<Choice> {
    let default = reader
        .str_field(obj, "Default")
        .and_then(|d| reader.target("Default", d));
    let items = match obj.get("Choices") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            reader.problem_at(
                "Choices",
                "Choices must be a non-empty array of choice rules",
            );
            return None;
        }
        None => {
            reader.problem("The field 'Choices' is required");
            return None;
        }
    };
    let mut rules = Vec::with_capacity(items.len());
    let mut rule_extras = Vec::with_capacity(items.len());
    let lang = reader.lang.unwrap_or(Lang::JsonPath);
    let mut ok = true;
    reader.at("Choices", |reader| {
        for (i, item) in items.iter().enumerate() {
            reader.at(i.to_string(), |reader| {
                let rule = parse_rule(reader, item, true);
                let next = item.get("Next").and_then(Value::as_str);
                match (rule, next) {
                    // A rule whose target does not exist is left out: the machine is refused
                    // anyway, and it leads nowhere the reachability check could follow.
                    (Some(r), Some(name)) => {
                        if let Some(n) = reader.target("Next", name) {
                            let assign = item.as_object().and_then(|o| reader.assign(o, lang));
                            let output = match (lang, item.as_object()) {
                                (Lang::Jsonata, Some(o)) => reader.jsonata_template(o, "Output"),
                                _ => None,
                            };
                            rules.push((r, n));
                            rule_extras.push(RuleExtra { assign, output });
                        }
                    }
                    _ => ok = false,
                }
            });
        }
    });
    ok.then_some(Choice {
        rules,
        rule_extras,
        default,
    })
}

impl Choice {
    /// Every state this Choice can go to.
    pub fn targets(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules.iter().map(|(_, n)| *n).chain(self.default)
    }

    /// The next state and the output.
    pub fn run(
        &self,
        state_run: &StateRun<'_>,
        raw: &Value,
    ) -> Result<(usize, Value), StatesError> {
        let effective = state_run.input_path(raw)?;
        let mut next = self.default.map(|d| (d, None));
        for (k, (rule, target)) in self.rules.iter().enumerate() {
            if self.holds(state_run, rule, &effective)? {
                next = Some((*target, Some(k)));
                break;
            }
        }
        let (next, rule) = next.ok_or_else(|| no_match(state_run))?;
        // JSONPath `Assign` reads the effective input as `$`.
        state_run.assign(
            self.assign_of(state_run, rule),
            &effective,
            raw,
            Extra::default(),
        )?;
        Ok((next, state_run.output_path(effective.into_owned())?))
    }

    /// The matched rule's `Assign`, else the state's. Guess: AWS documents the rule's for a
    /// match and the state's for `Default`; a matching rule without one uses the state's.
    fn assign_of<'s>(
        &'s self,
        state_run: &'s StateRun<'_>,
        rule: Option<usize>,
    ) -> Option<&'s Assign> {
        rule.and_then(|k| self.rule_extras.get(k))
            .and_then(|e| e.assign.as_ref())
            .or(state_run.state.assign.as_ref())
    }

    /// A JSONata Choice: the first `Condition` that gives true, its (or the state's) `Assign`
    /// and `Output` over `$states.input`.
    pub fn run_jsonata(
        &self,
        state_run: &StateRun<'_>,
        raw: &Value,
    ) -> Result<(Option<usize>, Value), StatesError> {
        let mut next = self.default.map(|d| (d, None));
        for (k, (rule, target)) in self.rules.iter().enumerate() {
            if let Rule::Condition(expr) = rule {
                let field = "Condition";
                match state_run.expr_value(expr, field, raw, Extra::default())? {
                    Value::Bool(true) => {
                        next = Some((*target, Some(k)));
                        break;
                    }
                    Value::Bool(false) => {}
                    // Guess at the cause: AWS's wording was not found recorded; this is its
                    // wording for Map `Items` of the wrong type.
                    other => {
                        return Err(state_run.query_error(
                            field,
                            cause::unexpected(expr.text(), field, "boolean", &other),
                        ))
                    }
                }
            }
        }
        let (next, rule) = next.ok_or_else(|| no_match(state_run))?;
        state_run.assign(self.assign_of(state_run, rule), raw, raw, Extra::default())?;
        let rule_output = rule
            .and_then(|k| self.rule_extras.get(k))
            .and_then(|e| e.output.as_ref());
        let out = match rule_output {
            Some(t) => state_run.jsonata(t, raw, Extra::default())?,
            None => state_run.jsonata_output(raw, Extra::default(), raw.clone())?,
        };
        state_run.check_limit(&out, "returned a result")?;
        Ok((Some(next), out))
    }

    fn holds(
        &self,
        state_run: &StateRun<'_>,
        rule: &Rule,
        input: &Value,
    ) -> Result<bool, StatesError> {
        Ok(match rule {
            Rule::And(rs) => {
                for r in rs {
                    if !self.holds(state_run, r, input)? {
                        return Ok(false);
                    }
                }
                true
            }
            Rule::Or(rs) => {
                for r in rs {
                    if self.holds(state_run, r, input)? {
                        return Ok(true);
                    }
                }
                false
            }
            Rule::Not(r) => !self.holds(state_run, r, input)?,
            // JSONata rules run in `run_jsonata`.
            Rule::Condition(_) => false,
            Rule::Test { var, op, rhs, .. } => {
                let scope = state_run.scope(input);
                let value = scope.select(var).ok();
                if let Op::IsPresent = op {
                    let present = match &value {
                        Some(Value::Array(a)) if !var.is_definite() => !a.is_empty(),
                        Some(_) => true,
                        None => false,
                    };
                    return Ok(matches!(rhs, Rhs::Flag(f) if *f == present));
                }
                let Some(value) = value else {
                    return Err(state_run.runtime(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        var.text()
                    )));
                };
                let rhs_value;
                let other = match rhs {
                    Rhs::Flag(f) => {
                        let is = match op {
                            Op::IsNull => value.is_null(),
                            Op::IsNumeric => value.is_number(),
                            Op::IsString => value.is_string(),
                            Op::IsBoolean => value.is_boolean(),
                            Op::IsTimestamp => value.as_str().and_then(timestamp).is_some(),
                            _ => false,
                        };
                        return Ok(is == *f);
                    }
                    Rhs::Pattern { glob, .. } => {
                        let chars: Option<Vec<char>> = value.as_str().map(|s| s.chars().collect());
                        return Ok(chars.is_some_and(|c| glob_match(glob, &c)));
                    }
                    Rhs::Value(v) => v,
                    Rhs::Path(p) => {
                        rhs_value = scope.select(p).map_err(|_| {
                            state_run.runtime(format!(
                                "Invalid path '{}': The choice state's condition path references an invalid value.",
                                p.text()
                            ))
                        })?;
                        &rhs_value
                    }
                };
                compare(*op, &value, other)
            }
        })
    }
}

/// `States.NoChoiceMatched`. Guess at the cause's wording; the error name is AWS's.
fn no_match(state_run: &StateRun<'_>) -> StatesError {
    StatesError::new(
        names::NO_CHOICE_MATCHED,
        state_run.cause("No choice rule matched, and the Choice state has no Default."),
    )
}

fn compare(op: Op, a: &Value, b: &Value) -> bool {
    let ty = match op {
        Op::Cmp(t, ..) | Op::Eq(t) => t,
        _ => return false,
    };
    let ord = match (ty, a, b) {
        (Ty::Str, Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Ty::Num, Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y)),
        },
        (Ty::Bool, Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Ty::Ts, Value::String(x), Value::String(y)) => match (timestamp(x), timestamp(y)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => None,
        },
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Eq(_) => ord == Ordering::Equal,
        Op::Cmp(_, want, or_equal) => ord == want || (or_equal && ord == Ordering::Equal),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_globs() {
        let m = |p: &str, s: &str| glob_match(&glob(p), &s.chars().collect::<Vec<_>>());
        assert!(m("log-*.txt", "log-2024.txt"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "aXb"));
        assert!(m("a\\\\b", "a\\b"));
    }

    #[test]
    fn operators_are_recognised() {
        assert!(matches!(
            operator("StringEquals"),
            Some((Op::Eq(Ty::Str), false))
        ));
        assert!(matches!(
            operator("NumericLessThanEqualsPath"),
            Some((Op::Cmp(Ty::Num, Ordering::Less, true), true))
        ));
        assert!(matches!(
            operator("IsPresent"),
            Some((Op::IsPresent, false))
        ));
        assert!(operator("StringMatchesPath").is_none());
        assert!(operator("BooleanLessThan").is_none());
        assert!(operator("Nope").is_none());
    }

    #[test]
    fn timestamps_need_t_and_offset() {
        assert!(timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(timestamp("2016-03-14T01:59:00.123+02:00").is_some());
        assert!(timestamp("2016-03-14 01:59:00Z").is_none());
        assert!(timestamp("2016-03-14T01:59:00").is_none());
    }
}
