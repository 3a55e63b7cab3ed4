//! Intrinsic functions (`States.Format(…)`, `States.Hash(…)`, …): the parser, a name → arity +
//! function table, and the functions, written to behave as AWS's Java implementation does
//! (`States.Format` prints objects as Java maps, `States.MathAdd` rounds each operand with
//! `Math.round`, `States.StringSplit` tokenises like `StringTokenizer`).

use crate::context::Scope;
use crate::path::Path;
use base64::Engine as _;
use rand::Rng as _;
use serde_json::{Number, Value};
use sha2::Digest as _;

/// A compiled call of an intrinsic function.
#[derive(Debug, Clone)]
pub struct Call {
    func: &'static Func,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Literal(Value),
    /// A string literal: its value, and the text as written (escapes kept) for `States.Format`.
    Str {
        value: String,
        raw: String,
    },
    Path(Path),
    Call(Call),
}

type Impl = fn(&Call, Vec<Value>, &Scope<'_>) -> Result<Value, String>;

struct Func {
    name: &'static str,
    min: usize,
    max: Option<usize>,
    run: Impl,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

const FUNCS: &[Func] = &[
    Func {
        name: "States.Format",
        min: 1,
        max: None,
        run: format,
    },
    Func {
        name: "States.StringToJson",
        min: 1,
        max: Some(1),
        run: string_to_json,
    },
    Func {
        name: "States.JsonToString",
        min: 1,
        max: Some(1),
        run: json_to_string,
    },
    Func {
        name: "States.Array",
        min: 0,
        max: None,
        run: array,
    },
    Func {
        name: "States.ArrayPartition",
        min: 2,
        max: Some(2),
        run: array_partition,
    },
    Func {
        name: "States.ArrayContains",
        min: 2,
        max: Some(2),
        run: array_contains,
    },
    Func {
        name: "States.ArrayRange",
        min: 3,
        max: Some(3),
        run: array_range,
    },
    Func {
        name: "States.ArrayGetItem",
        min: 2,
        max: Some(2),
        run: array_get_item,
    },
    Func {
        name: "States.ArrayLength",
        min: 1,
        max: Some(1),
        run: array_length,
    },
    Func {
        name: "States.ArrayUnique",
        min: 1,
        max: Some(1),
        run: array_unique,
    },
    Func {
        name: "States.Base64Encode",
        min: 1,
        max: Some(1),
        run: base64_encode,
    },
    Func {
        name: "States.Base64Decode",
        min: 1,
        max: Some(1),
        run: base64_decode,
    },
    Func {
        name: "States.Hash",
        min: 2,
        max: Some(2),
        run: hash,
    },
    Func {
        name: "States.JsonMerge",
        min: 3,
        max: Some(3),
        run: json_merge,
    },
    Func {
        name: "States.MathRandom",
        min: 2,
        max: Some(3),
        run: math_random,
    },
    Func {
        name: "States.MathAdd",
        min: 2,
        max: Some(2),
        run: math_add,
    },
    Func {
        name: "States.StringSplit",
        min: 2,
        max: Some(2),
        run: string_split,
    },
    Func {
        name: "States.UUID",
        min: 0,
        max: Some(0),
        run: uuid,
    },
];

/// AWS allows up to 10 nested intrinsic calls in one field.
const MAX_DEPTH: usize = 10;

/// Why an intrinsic call could not be evaluated.
#[derive(Debug, Clone)]
pub(crate) enum EvalError {
    /// A path argument selected nothing: a `States.Runtime` error, like any missing path.
    Path { path: String },
    /// The function refused its arguments: `States.IntrinsicFailure`.
    Failure(String),
}

/// True when a `.$` value is an intrinsic call rather than a path.
pub fn looks_like_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

impl Call {
    /// Parses an intrinsic call; the error is a sentence for a definition problem.
    pub fn parse(text: &str) -> Result<Call, String> {
        let mut p = P { s: text, i: 0 };
        p.ws();
        let call = p.call(1)?;
        p.ws();
        if p.i != text.len() {
            return Err(format!(
                "unexpected '{}' after the intrinsic function call",
                &text[p.i..]
            ));
        }
        Ok(call)
    }

    /// Evaluates the call.
    pub(crate) fn eval(&self, scope: &Scope<'_>) -> Result<Value, EvalError> {
        let mut vals = Vec::with_capacity(self.args.len());
        for a in &self.args {
            vals.push(match a {
                Arg::Literal(v) => v.clone(),
                Arg::Str { value, .. } => Value::String(value.clone()),
                Arg::Path(p) => scope.select(p).map_err(|_| EvalError::Path {
                    path: p.text().to_string(),
                })?,
                Arg::Call(c) => c.eval(scope)?,
            });
        }
        (self.func.run)(self, vals, scope).map_err(EvalError::Failure)
    }

    fn name(&self) -> &'static str {
        self.func.name
    }
}

struct P<'s> {
    s: &'s str,
    i: usize,
}

impl<'s> P<'s> {
    fn rest(&self) -> &'s str {
        &self.s[self.i..]
    }

    fn ws(&mut self) {
        let t = self.rest().len() - self.rest().trim_start().len();
        self.i += t;
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "intrinsic functions can be nested at most {MAX_DEPTH} deep"
            ));
        }
        let name_len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(self.rest().len());
        let name = &self.rest()[..name_len];
        let func = FUNCS
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("'{name}' is not an intrinsic function"))?;
        self.i += name_len;
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(format!("'{name}' must be followed by '('"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg(depth)?);
                self.ws();
                match self.rest().chars().next() {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(format!("the arguments of '{name}' are not closed by ')'")),
                }
            }
        }
        let n = args.len();
        if n < func.min || func.max.is_some_and(|m| n > m) {
            let want = match func.max {
                Some(m) if m == func.min => format!("{m}"),
                Some(m) => format!("{} to {m}", func.min),
                None => format!("at least {}", func.min),
            };
            return Err(format!("{name} takes {want} argument(s), not {n}"));
        }
        let call = Call { func, args };
        check_literals(&call)?;
        Ok(call)
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
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
            let path = Path::parse(text)?;
            self.i += end;
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
                .map_err(|_| format!("'{word}' is not a valid intrinsic function argument"))?,
        };
        self.i += end;
        Ok(Arg::Literal(v))
    }

    fn string(&mut self) -> Result<Arg, String> {
        let start = self.i + 1;
        let mut value = String::new();
        let mut chars = self.s[start..].char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '\'' => {
                    let raw = self.s[start..start + k].to_string();
                    self.i = start + k + 1;
                    return Ok(Arg::Str { value, raw });
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '{' | '}' | '\\'))) => value.push(e),
                    Some((_, e)) => {
                        return Err(format!(
                            "'\\{e}' is not a valid escape in an intrinsic string (only \\', \\{{, \\}} and \\\\ are)"
                        ))
                    }
                    None => break,
                },
                c => value.push(c),
            }
        }
        Err("a string literal in the intrinsic function is not closed by '".into())
    }
}

/// Checks what can be checked at load time on literal arguments.
fn check_literals(call: &Call) -> Result<(), String> {
    if call.func.name == "States.Format" {
        if let Some(Arg::Str { raw, .. }) = call.args.first() {
            let holes = format_pieces(raw).len() - 1;
            if holes != call.args.len() - 1 {
                return Err(format!(
                    "States.Format: the template has {holes} '{{}}' but {} argument(s) follow it",
                    call.args.len() - 1
                ));
            }
        }
    }
    if call.func.name == "States.Hash" {
        if let Some(Arg::Str { value, .. }) = call.args.get(1) {
            if hash_algorithm(value).is_none() {
                return Err(format!(
                    "States.Hash: '{value}' is not a supported algorithm ({ALGORITHMS})"
                ));
            }
        }
    }
    Ok(())
}

// ----- helpers ---------------------------------------------------------------------------------

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn want_str<'v>(call: &Call, v: &'v Value, what: &str) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "{}: {what} must be a string, not {}",
            call.name(),
            type_name(v)
        )
    })
}

fn want_array<'v>(call: &Call, v: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    v.as_array().ok_or_else(|| {
        format!(
            "{}: {what} must be an array, not {}",
            call.name(),
            type_name(v)
        )
    })
}

/// An integer argument: a JSON integer, or a number with no fraction.
fn want_int(call: &Call, v: &Value, what: &str) -> Result<i64, String> {
    let err = || format!("{}: {what} must be an integer, not {v}", call.name());
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                _ => Err(err()),
            },
        },
        _ => Err(err()),
    }
}

const MAX_STRING: usize = 10_000;

/// Java's `Double.toString`: plain between 10^-3 and 10^7, otherwise `d.dddE±n`.
pub(crate) fn java_double(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = format!("{:e}", x.abs()); // shortest round-trip digits, e.g. "1.25e-5"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let ax = x.abs();
    if (1e-3..1e7).contains(&ax) {
        let point = exp + 1; // digits before the decimal point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if (point as usize) >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{s}")
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{}", &digits[..1], frac, exp)
    }
}

fn java_number(n: &Number) -> String {
    if n.is_f64() {
        n.as_f64().map(java_double).unwrap_or_else(|| n.to_string())
    } else {
        n.to_string()
    }
}

/// How AWS's Java side prints a value it got from JSON: `toString` of the Java object.
fn java_string(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&java_number(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                java_string(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                java_string(item, out);
            }
            out.push('}');
        }
    }
}

/// Splits a `States.Format` template (as written, escapes included) at its `{}` holes.
fn format_pieces(raw: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(e) = chars.next() {
                    if let Some(p) = pieces.last_mut() {
                        p.push(e);
                    }
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.push(String::new());
            }
            c => {
                if let Some(p) = pieces.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    pieces
}

// ----- the functions ---------------------------------------------------------------------------

fn format(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    // A template read from the data has no escapes to honour; a literal one does.
    let pieces = match call.args.first() {
        Some(Arg::Str { raw, .. }) => format_pieces(raw),
        _ => {
            let t = want_str(call, &args[0], "the template")?;
            t.split("{}").map(str::to_string).collect()
        }
    };
    if pieces.len() != args.len() {
        return Err(format!(
            "States.Format: the template has {} '{{}}' but {} argument(s) follow it",
            pieces.len() - 1,
            args.len() - 1
        ));
    }
    let mut out = String::new();
    for (k, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(v) = args.get(k + 1) {
            java_string(v, &mut out);
        }
    }
    Ok(Value::String(out))
}

fn string_to_json(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let s = want_str(call, &args[0], "the argument")?;
    // Observed on AWS: an empty or blank string gives null.
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(s)
        .map_err(|e| format!("States.StringToJson: the argument is not valid JSON: {e}"))
}

fn json_to_string(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    Ok(Value::String(args[0].to_string()))
}

fn array(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    Ok(Value::Array(args))
}

fn array_partition(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let items = want_array(call, &args[0], "the first argument")?;
    let size = want_int(call, &args[1], "the chunk size")?;
    if size <= 0 {
        return Err(format!(
            "States.ArrayPartition: the chunk size must be positive, not {size}"
        ));
    }
    let size = usize::try_from(size).map_err(|e| e.to_string())?;
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

fn array_contains(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let items = want_array(call, &args[0], "the first argument")?;
    Ok(Value::Bool(items.contains(&args[1])))
}

fn array_range(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let start = want_int(call, &args[0], "the start")?;
    let end = want_int(call, &args[1], "the end")?;
    let step = want_int(call, &args[2], "the step")?;
    if step == 0 {
        return Err("States.ArrayRange: the step cannot be 0".into());
    }
    // In i128: `end - start` of two i64s overflows i64 (`ArrayRange(-9223372036854775808,
    // 9223372036854775807, 1)` panicked), and so does `i64::MIN / -1`.
    let (start, end, step) = (i128::from(start), i128::from(end), i128::from(step));
    let count = if (step > 0 && end >= start) || (step < 0 && end <= start) {
        (end - start) / step + 1
    } else {
        0
    };
    if count > 1000 {
        return Err(format!(
            "States.ArrayRange: the range has {count} elements, more than the limit of 1000"
        ));
    }
    // Every element lies between start and end, so each fits an i64 again.
    Ok(Value::Array(
        (0..count)
            .filter_map(|k| i64::try_from(start + k * step).ok())
            .map(Value::from)
            .collect(),
    ))
}

fn array_get_item(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let items = want_array(call, &args[0], "the first argument")?;
    let index = want_int(call, &args[1], "the index")?;
    usize::try_from(index)
        .ok()
        .and_then(|k| items.get(k))
        .cloned()
        .ok_or_else(|| {
            format!(
                "States.ArrayGetItem: index {index} is out of bounds for an array of {}",
                items.len()
            )
        })
}

fn array_length(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    Ok(Value::from(
        want_array(call, &args[0], "the argument")?.len(),
    ))
}

fn array_unique(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let items = want_array(call, &args[0], "the argument")?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

fn base64_encode(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let s = want_str(call, &args[0], "the argument")?;
    if s.chars().count() > MAX_STRING {
        return Err(format!(
            "States.Base64Encode: the input is longer than {MAX_STRING} characters"
        ));
    }
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

fn base64_decode(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let s = want_str(call, &args[0], "the argument")?;
    if s.chars().count() > MAX_STRING {
        return Err(format!(
            "States.Base64Decode: the input is longer than {MAX_STRING} characters"
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("States.Base64Decode: the input is not valid base64: {e}"))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "States.Base64Decode: the decoded data is not UTF-8 text".into())
}

const ALGORITHMS: &str = "MD5, SHA-1, SHA-256, SHA-384, SHA-512";

type Digest = fn(&[u8]) -> Vec<u8>;

fn hash_algorithm(name: &str) -> Option<Digest> {
    Some(match name {
        "MD5" => |d: &[u8]| md5::Md5::digest(d).to_vec(),
        "SHA-1" => |d: &[u8]| sha1::Sha1::digest(d).to_vec(),
        "SHA-256" => |d: &[u8]| sha2::Sha256::digest(d).to_vec(),
        "SHA-384" => |d: &[u8]| sha2::Sha384::digest(d).to_vec(),
        "SHA-512" => |d: &[u8]| sha2::Sha512::digest(d).to_vec(),
        _ => return None,
    })
}

fn hash(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let data = want_str(call, &args[0], "the data")?;
    if data.chars().count() > MAX_STRING {
        return Err(format!(
            "States.Hash: the input is longer than {MAX_STRING} characters"
        ));
    }
    let alg = want_str(call, &args[1], "the algorithm")?;
    let f = hash_algorithm(alg).ok_or_else(|| {
        format!("States.Hash: '{alg}' is not a supported algorithm ({ALGORITHMS})")
    })?;
    let digest = f(data.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok(Value::String(hex))
}

fn json_merge(_: &Call, mut args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    if args[2] != Value::Bool(false) {
        return Err(
            "States.JsonMerge: only a shallow merge is supported; the third argument must be false"
                .into(),
        );
    }
    let second = args.swap_remove(1);
    let mut first = args.swap_remove(0);
    let (Value::Object(a), Value::Object(b)) = (&mut first, second) else {
        return Err("States.JsonMerge: both arguments to merge must be objects".into());
    };
    for (k, v) in b {
        a.insert(k, v);
    }
    Ok(first)
}

/// `java.util.Random`, so a seeded `States.MathRandom` gives what AWS's JVM gives.
/// Guess: that AWS computes `new Random(seed).nextInt(end - start) + start`.
struct JavaRandom(i64);

impl JavaRandom {
    fn new(seed: i64) -> Self {
        JavaRandom((seed ^ 0x5DEE_CE66D) & ((1 << 48) - 1))
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = (self.0.wrapping_mul(0x5DEE_CE66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.0 >> (48 - bits)) as i32
    }

    fn next_int(&mut self, bound: i32) -> i32 {
        let r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            let r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

fn math_random(call: &Call, args: Vec<Value>, scope: &Scope<'_>) -> Result<Value, String> {
    let start = want_int(call, &args[0], "the start")?;
    let end = want_int(call, &args[1], "the end")?;
    let (Ok(start32), Ok(end32)) = (i32::try_from(start), i32::try_from(end)) else {
        return Err(
            "States.MathRandom: the bounds must be between -2147483648 and 2147483647".into(),
        );
    };
    let span = i64::from(end32) - i64::from(start32);
    if span <= 0 || span > i64::from(i32::MAX) {
        return Err(format!(
            "States.MathRandom: the start ({start}) must be less than the end ({end})"
        ));
    }
    let span = span as i32;
    let r = match args.get(2) {
        Some(seed) => JavaRandom::new(want_int(call, seed, "the seed")?).next_int(span),
        None => match scope.rng.lock() {
            Ok(mut rng) => rng.random_range(0..span),
            Err(_) => return Err("States.MathRandom: the random generator is unavailable".into()),
        },
    };
    Ok(Value::from(i64::from(start32) + i64::from(r)))
}

/// Java's `Math.round`: half up, towards positive infinity.
fn java_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn math_add(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let mut sum = 0i64;
    for (v, what) in args.iter().zip(["the first operand", "the second operand"]) {
        let n = match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => java_round(n.as_f64().unwrap_or(f64::NAN)) as i64,
            },
            _ => {
                return Err(format!(
                    "States.MathAdd: {what} must be a number, not {}",
                    type_name(v)
                ))
            }
        };
        if i32::try_from(n).is_err() {
            return Err(format!(
                "States.MathAdd: {what} must be between -2147483648 and 2147483647"
            ));
        }
        sum += n;
    }
    Ok(Value::from(sum))
}

fn string_split(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, String> {
    let s = want_str(call, &args[0], "the string")?;
    let delims = want_str(call, &args[1], "the delimiter")?;
    // Like java.util.StringTokenizer: every character of the delimiter splits, empties dropped.
    let parts = s
        .split(|c: char| delims.contains(c))
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_string()))
        .collect();
    Ok(Value::Array(parts))
}

fn uuid(_: &Call, _: Vec<Value>, scope: &Scope<'_>) -> Result<Value, String> {
    let mut bytes = [0u8; 16];
    match scope.rng.lock() {
        Ok(mut rng) => rng.fill(&mut bytes),
        Err(_) => return Err("States.UUID: the random generator is unavailable".into()),
    }
    Ok(Value::String(
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ExecutionInfo;
    use rand::SeedableRng;
    use serde_json::json;
    use std::sync::Mutex;

    fn run(expr: &str, input: Value) -> Result<Value, String> {
        let exec = ExecutionInfo {
            id: "arn:aws:states:us-east-1:123456789012:execution:M:e".into(),
            name: "e".into(),
            input: input.clone(),
            start_time: chrono::DateTime::UNIX_EPOCH,
            role_arn: "r".into(),
            state_machine_id: "arn:aws:states:us-east-1:123456789012:stateMachine:M".into(),
            state_machine_name: "M".into(),
        };
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(7));
        let scope = Scope::new(&input, &exec, "S", chrono::DateTime::UNIX_EPOCH, 0, &rng);
        let call = Call::parse(expr)?;
        call.eval(&scope).map_err(|e| match e {
            EvalError::Failure(m) => m,
            EvalError::Path { path } => format!("missing {path}"),
        })
    }

    #[test]
    fn format_prints_like_java() {
        let input = json!({"o": {"Arg1": 1, "Arg2": [], "s": "x", "f": 1.5}, "n": 1.0e20, "i": 3});
        assert_eq!(
            run("States.Format('{} and {} and {}', $.o, $.n, $.i)", input).unwrap(),
            json!("{Arg1=1, Arg2=[], s=x, f=1.5} and 1.0E20 and 3")
        );
        assert_eq!(
            run("States.Format('a\\{\\}b {}', 'x')", json!({})).unwrap(),
            json!("a{}b x")
        );
        assert!(Call::parse("States.Format('{} {}', 'x')").is_err());
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1.0e-4), "1.0E-4");
        assert_eq!(java_double(1234567.0), "1234567.0");
        assert_eq!(java_double(12345678.9), "1.23456789E7");
    }

    #[test]
    fn math_add_rounds_like_java() {
        for (a, b, want) in [
            (1.49, 1.5, 3),
            (-1.49, -1.5, -2),
            (-1.5, -1.51, -3),
            (-0.5, 0.5, 1),
            (-2.5, 0.0, -2),
        ] {
            assert_eq!(
                run("States.MathAdd($.a, $.b)", json!({"a": a, "b": b})).unwrap(),
                json!(want),
                "{a}+{b}"
            );
        }
        assert!(run("States.MathAdd($.a, 1)", json!({"a": 3_000_000_000i64})).is_err());
    }

    #[test]
    fn string_and_array_functions() {
        assert_eq!(
            run("States.StringSplit(', , ,', ',')", json!({})).unwrap(),
            json!([" ", " "])
        );
        assert_eq!(
            run(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert!(run("States.ArrayRange(1, 2000, 1)", json!({})).is_err());
        assert_eq!(
            run("States.ArrayPartition(States.Array(1,2,3), 2)", json!({})).unwrap(),
            json!([[1, 2], [3]])
        );
        assert_eq!(
            run("States.ArrayUnique($)", json!([1, 1, "a", "a", {}])).unwrap(),
            json!([1, "a", {}])
        );
        assert_eq!(
            run("States.ArrayGetItem($, 1)", json!([1, 2])).unwrap(),
            json!(2)
        );
        assert!(run("States.ArrayGetItem($, 5)", json!([1, 2])).is_err());
        assert_eq!(
            run("States.ArrayContains($, 2)", json!([1, 2])).unwrap(),
            json!(true)
        );
        assert_eq!(
            run("States.ArrayLength($)", json!([1, 2])).unwrap(),
            json!(2)
        );
        assert_eq!(
            run("States.StringToJson(' ')", json!({})).unwrap(),
            Value::Null
        );
        assert_eq!(
            run("States.JsonToString($)", json!({"b": 1, "a": [1]})).unwrap(),
            json!("{\"b\":1,\"a\":[1]}")
        );
        assert_eq!(
            run(
                "States.JsonMerge($.a, $.b, false)",
                json!({"a": {"x": 1, "y": 1}, "b": {"y": 2}})
            )
            .unwrap(),
            json!({"x": 1, "y": 2})
        );
        assert!(run(
            "States.JsonMerge($.a, $.b, true)",
            json!({"a": {}, "b": {}})
        )
        .is_err());
    }

    #[test]
    fn encoding_and_hashing() {
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert!(Call::parse("States.Hash('x', 'SHA-3')").is_err());
    }

    #[test]
    fn java_random_matches_the_jdk() {
        // `new java.util.Random(42).nextInt()` is -1170105035 on every JDK.
        assert_eq!(JavaRandom::new(42).next(32), -1_170_105_035);
    }

    #[test]
    fn random_and_uuid() {
        let a = run("States.MathRandom(1, 999, 3)", json!({})).unwrap();
        let b = run("States.MathRandom(1, 999, 3)", json!({})).unwrap();
        assert_eq!(a, b);
        let n = a.as_i64().unwrap();
        assert!((1..999).contains(&n));
        let u = run("States.UUID()", json!({})).unwrap();
        assert_eq!(u.as_str().unwrap().len(), 36);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "States.Nope()",
            "States.Array(",
            "States.Array('x)",
            "States.Array('\\n')",
            "States.UUID(1)",
            "States.Format()",
            "States.Array(1) x",
            "States.Array(foo)",
        ] {
            assert!(Call::parse(bad).is_err(), "{bad}");
        }
        assert!(Call::parse("States.Array($.a['x,y'], $.b[0])").is_ok());
    }
}
