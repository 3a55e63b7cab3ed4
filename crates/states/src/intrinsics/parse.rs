//! The call syntax: `States.Name(arg, …)`, where an argument is a string in single quotes, a
//! number, `true`, `false`, `null`, a path or another call. Each argument is compiled here,
//! once, and what the literal arguments already show to be wrong is refused here too.

use super::format::format_pieces;
use super::functions::{self, FailureReason, FunctionFailure, FUNCS};
use super::{Arg, Call, CallError, CallErrorKind, MAX_DEPTH};
use crate::path::Path;
use serde_json::{Number, Value};

/// Parses a whole call: one call, surrounded by nothing but whitespace.
pub(super) fn call(text: &str) -> Result<Call, CallError> {
    let mut parser = CallParser { text, at: 0 };
    parser.whitespace();
    let call = parser.call(1)?;
    parser.whitespace();
    if parser.at != text.len() {
        return Err(parser.refuse(
            parser.at,
            CallErrorKind::Trailing(parser.rest().to_string()),
        ));
    }
    Ok(call)
}

struct CallParser<'s> {
    text: &'s str,
    /// The byte offset of what is read next.
    at: usize,
}

impl<'s> CallParser<'s> {
    fn rest(&self) -> &'s str {
        &self.text[self.at..]
    }

    fn whitespace(&mut self) {
        let skipped = self.rest().len() - self.rest().trim_start().len();
        self.at += skipped;
    }

    fn refuse(&self, position: usize, kind: CallErrorKind) -> CallError {
        CallError {
            text: self.text.into(),
            position,
            kind: Box::new(kind),
        }
    }

    fn call(&mut self, depth: usize) -> Result<Call, CallError> {
        let start = self.at;
        if depth > MAX_DEPTH {
            return Err(self.refuse(start, CallErrorKind::TooDeep));
        }
        let name_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(self.rest().len());
        let name = &self.rest()[..name_len];
        let Some(func) = FUNCS.iter().find(|f| f.name == name) else {
            return Err(self.refuse(start, CallErrorKind::UnknownFunction(name.to_string())));
        };
        self.at += name_len;
        self.whitespace();
        if !self.rest().starts_with('(') {
            return Err(self.refuse(self.at, CallErrorKind::MissingParenthesis(name.to_string())));
        }
        self.at += 1;
        let mut args = Vec::new();
        self.whitespace();
        if self.rest().starts_with(')') {
            self.at += 1;
        } else {
            loop {
                self.whitespace();
                args.push(self.arg(depth)?);
                self.whitespace();
                match self.rest().chars().next() {
                    Some(',') => self.at += 1,
                    Some(')') => {
                        self.at += 1;
                        break;
                    }
                    _ => {
                        return Err(self
                            .refuse(self.at, CallErrorKind::UnclosedArguments(name.to_string())))
                    }
                }
            }
        }
        let found = args.len();
        if found < func.min || func.max.is_some_and(|m| found > m) {
            let expected = match func.max {
                Some(m) if m == func.min => format!("{m}"),
                Some(m) => format!("{} to {m}", func.min),
                None => format!("at least {}", func.min),
            };
            return Err(self.refuse(
                start,
                CallErrorKind::Arity {
                    function: func.name,
                    expected,
                    found,
                },
            ));
        }
        let call = Call {
            func,
            args,
            position: start,
        };
        check_literals(&call).map_err(|reason| {
            self.refuse(
                start,
                CallErrorKind::Refused(FunctionFailure {
                    function: func.name,
                    position: start,
                    reason,
                }),
            )
        })?;
        Ok(call)
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, CallError> {
        let rest = self.rest();
        if rest.starts_with('\'') {
            return self.string();
        }
        if rest.starts_with("States.") {
            return Ok(Arg::Call(self.call(depth + 1)?));
        }
        if rest.starts_with('$') {
            // A path runs to the next ',' or ')' outside brackets and quotes.
            let (mut depth_b, mut quote) = (0i32, None::<char>);
            let mut end = rest.len();
            for (k, c) in rest.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '[' | '(') => depth_b += 1,
                    (None, ']') => depth_b -= 1,
                    (None, ')') if depth_b > 0 => depth_b -= 1,
                    (None, ',' | ')') if depth_b == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            let text = rest[..end].trim_end();
            let path = Path::parse(text)
                .map_err(|e| self.refuse(self.at + e.position(), CallErrorKind::Path(e)))?;
            self.at += end;
            return Ok(Arg::Path(path));
        }
        let end = rest.find([',', ')']).unwrap_or(rest.len());
        let word = rest[..end].trim();
        let v = match word {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => serde_json::from_str::<Number>(word)
                .map(Value::Number)
                .map_err(|_| {
                    self.refuse(self.at, CallErrorKind::InvalidArgument(word.to_string()))
                })?,
        };
        self.at += end;
        Ok(Arg::Literal(v))
    }

    fn string(&mut self) -> Result<Arg, CallError> {
        let start = self.at + 1;
        let mut value = String::new();
        let mut chars = self.text[start..].char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\'' => {
                    let raw = self.text[start..start + k].to_string();
                    self.at = start + k + 1;
                    return Ok(Arg::Str { value, raw });
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '{' | '}' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        return Err(self.refuse(start + k, CallErrorKind::InvalidEscape(e)))
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err(self.refuse(self.at, CallErrorKind::UnclosedString))
    }
}

/// Checks what can be checked at load time on literal arguments.
fn check_literals(call: &Call) -> Result<(), FailureReason> {
    if call.func.name == "States.Format" {
        if let Some(Arg::Str { raw, .. }) = call.args.first() {
            let holes = format_pieces(raw).len() - 1;
            if holes != call.args.len() - 1 {
                return Err(FailureReason::TemplateHoles {
                    holes,
                    arguments: call.args.len() - 1,
                });
            }
        }
    }
    if call.func.name == "States.Hash" {
        if let Some(Arg::Str { value, .. }) = call.args.get(1) {
            if functions::hash_algorithm(value).is_none() {
                return Err(FailureReason::UnsupportedAlgorithm(value.clone()));
            }
        }
    }
    Ok(())
}
