//! The functions: a name → arity + function table, and each function, refusing its arguments
//! with a [`FailureReason`] (a `States.IntrinsicFailure` when the execution runs into it).

use super::format::{format_pieces, java_string};
use super::{Arg, Call};
use crate::context::Scope;
use base64::Engine as _;
use rand::Rng as _;
use serde_json::Value;
use sha2::Digest as _;

/// Why a function refused its arguments, with the function's name and where it is called.
#[derive(Debug, thiserror::Error)]
#[error("{function}: {reason}")]
pub struct FunctionFailure {
    pub(super) function: &'static str,
    pub(super) position: usize,
    #[source]
    pub(super) reason: FailureReason,
}

impl FunctionFailure {
    /// The function, e.g. `States.ArrayGetItem`.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// The byte offset where the call starts in the text it was parsed from.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What the function refused.
    pub fn reason(&self) -> &FailureReason {
        &self.reason
    }
}

/// What a function refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// An argument of the wrong JSON type.
    #[error("{argument} must be {expected}, not {found}")]
    WrongType {
        /// Which argument (`the first argument`, `the template`, …).
        argument: &'static str,
        /// `a string`, `an array`, `a number`.
        expected: &'static str,
        /// The JSON type it has.
        found: &'static str,
    },
    /// An argument that is not an integer.
    #[error("{argument} must be an integer, not {value}")]
    NotAnInteger {
        /// Which argument.
        argument: &'static str,
        /// The value it has, as JSON.
        value: String,
    },
    /// A `States.Format` template whose holes do not match the arguments after it.
    #[error("the template has {holes} '{{}}' but {arguments} argument(s) follow it")]
    TemplateHoles {
        /// How many `{}` the template has.
        holes: usize,
        /// How many arguments follow it.
        arguments: usize,
    },
    /// `States.StringToJson` on text that is not JSON.
    #[error("the argument is not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// A chunk size of zero or less.
    #[error("the chunk size must be positive, not {0}")]
    ChunkSizeNotPositive(i64),
    /// A step of zero.
    #[error("the step cannot be 0")]
    ZeroStep,
    /// A range of more elements than AWS allows.
    #[error("the range has {0} elements, more than the limit of 1000")]
    RangeTooLarge(i128),
    /// An index past either end of the array.
    #[error("index {index} is out of bounds for an array of {length}")]
    IndexOutOfBounds {
        /// The index asked for.
        index: i64,
        /// The array's length.
        length: usize,
    },
    /// An input string longer than AWS allows.
    #[error("the input is longer than {MAX_STRING} characters")]
    InputTooLong,
    /// `States.Base64Decode` on text that is not base64.
    #[error("the input is not valid base64: {0}")]
    InvalidBase64(#[source] base64::DecodeError),
    /// `States.Base64Decode` of bytes that are not UTF-8.
    #[error("the decoded data is not UTF-8 text")]
    NotUtf8(#[source] std::string::FromUtf8Error),
    /// A `States.Hash` algorithm AWS does not offer.
    #[error("'{0}' is not a supported algorithm ({ALGORITHMS})")]
    UnsupportedAlgorithm(String),
    /// `States.JsonMerge` asked for a deep merge.
    #[error("only a shallow merge is supported; the third argument must be false")]
    DeepMerge,
    /// `States.JsonMerge` of something other than two objects.
    #[error("both arguments to merge must be objects")]
    MergeOfNonObjects,
    /// `States.MathRandom` bounds outside Java's `int`.
    #[error("the bounds must be between -2147483648 and 2147483647")]
    BoundsOutOfRange,
    /// `States.MathRandom` with nothing between its bounds.
    #[error("the start ({start}) must be less than the end ({end})")]
    EmptyRange {
        /// The start given.
        start: i64,
        /// The end given.
        end: i64,
    },
    /// An operand outside Java's `int`.
    #[error("{argument} must be between -2147483648 and 2147483647")]
    OperandOutOfRange {
        /// Which operand.
        argument: &'static str,
    },
    /// The execution's random generator was poisoned by a panic elsewhere.
    #[error("the random generator is unavailable")]
    RandomUnavailable,
}

type Impl = fn(&Call, Vec<Value>, &Scope<'_>) -> Result<Value, FailureReason>;

pub(super) struct Func {
    pub(super) name: &'static str,
    pub(super) min: usize,
    pub(super) max: Option<usize>,
    pub(super) run: Impl,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

pub(super) const FUNCS: &[Func] = &[
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

fn want_str<'v>(v: &'v Value, argument: &'static str) -> Result<&'v str, FailureReason> {
    v.as_str().ok_or(FailureReason::WrongType {
        argument,
        expected: "a string",
        found: type_name(v),
    })
}

fn want_array<'v>(v: &'v Value, argument: &'static str) -> Result<&'v Vec<Value>, FailureReason> {
    v.as_array().ok_or(FailureReason::WrongType {
        argument,
        expected: "an array",
        found: type_name(v),
    })
}

/// An integer argument: a JSON integer, or a number with no fraction.
fn want_int(v: &Value, argument: &'static str) -> Result<i64, FailureReason> {
    let err = || FailureReason::NotAnInteger {
        argument,
        value: v.to_string(),
    };
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

// ----- the functions ---------------------------------------------------------------------------

fn format(call: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    // A template read from the data has no escapes to honour; a literal one does.
    let pieces = match call.args.first() {
        Some(Arg::Str { raw, .. }) => format_pieces(raw),
        _ => {
            let t = want_str(&args[0], "the template")?;
            t.split("{}").map(str::to_string).collect()
        }
    };
    if pieces.len() != args.len() {
        return Err(FailureReason::TemplateHoles {
            holes: pieces.len() - 1,
            arguments: args.len() - 1,
        });
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

fn string_to_json(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let s = want_str(&args[0], "the argument")?;
    // Observed on AWS: an empty or blank string gives null.
    if s.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut value = serde_json::from_str(s).map_err(FailureReason::InvalidJson)?;
    // AWS's Java side parses `-0` as the integer 0 and prints `0`; serde_json makes it `-0.0`.
    crate::number::zero_sign(&mut value);
    Ok(value)
}

fn json_to_string(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    Ok(Value::String(args[0].to_string()))
}

fn array(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    Ok(Value::Array(args))
}

fn array_partition(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let items = want_array(&args[0], "the first argument")?;
    let size = want_int(&args[1], "the chunk size")?;
    if size <= 0 {
        return Err(FailureReason::ChunkSizeNotPositive(size));
    }
    // Positive, and wider than memory can hold at worst: one chunk of everything.
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

fn array_contains(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let items = want_array(&args[0], "the first argument")?;
    Ok(Value::Bool(items.contains(&args[1])))
}

fn array_range(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let start = want_int(&args[0], "the start")?;
    let end = want_int(&args[1], "the end")?;
    let step = want_int(&args[2], "the step")?;
    if step == 0 {
        return Err(FailureReason::ZeroStep);
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
        return Err(FailureReason::RangeTooLarge(count));
    }
    // Every element lies between start and end, so each fits an i64 again.
    Ok(Value::Array(
        (0..count)
            .filter_map(|k| i64::try_from(start + k * step).ok())
            .map(Value::from)
            .collect(),
    ))
}

fn array_get_item(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let items = want_array(&args[0], "the first argument")?;
    let index = want_int(&args[1], "the index")?;
    usize::try_from(index)
        .ok()
        .and_then(|k| items.get(k))
        .cloned()
        .ok_or(FailureReason::IndexOutOfBounds {
            index,
            length: items.len(),
        })
}

fn array_length(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    Ok(Value::from(want_array(&args[0], "the argument")?.len()))
}

fn array_unique(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let items = want_array(&args[0], "the argument")?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

fn base64_encode(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let s = want_str(&args[0], "the argument")?;
    if s.chars().count() > MAX_STRING {
        return Err(FailureReason::InputTooLong);
    }
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(s),
    ))
}

fn base64_decode(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let s = want_str(&args[0], "the argument")?;
    if s.chars().count() > MAX_STRING {
        return Err(FailureReason::InputTooLong);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(FailureReason::InvalidBase64)?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(FailureReason::NotUtf8)
}

const ALGORITHMS: &str = "MD5, SHA-1, SHA-256, SHA-384, SHA-512";

type Digest = fn(&[u8]) -> Vec<u8>;

pub(crate) fn hash_algorithm(name: &str) -> Option<Digest> {
    Some(match name {
        "MD5" => |d: &[u8]| md5::Md5::digest(d).to_vec(),
        "SHA-1" => |d: &[u8]| sha1::Sha1::digest(d).to_vec(),
        "SHA-256" => |d: &[u8]| sha2::Sha256::digest(d).to_vec(),
        "SHA-384" => |d: &[u8]| sha2::Sha384::digest(d).to_vec(),
        "SHA-512" => |d: &[u8]| sha2::Sha512::digest(d).to_vec(),
        _ => return None,
    })
}

fn hash(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let data = want_str(&args[0], "the data")?;
    if data.chars().count() > MAX_STRING {
        return Err(FailureReason::InputTooLong);
    }
    let alg = want_str(&args[1], "the algorithm")?;
    let f =
        hash_algorithm(alg).ok_or_else(|| FailureReason::UnsupportedAlgorithm(alg.to_string()))?;
    let digest = f(data.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    Ok(Value::String(hex))
}

fn json_merge(_: &Call, mut args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    if args[2] != Value::Bool(false) {
        return Err(FailureReason::DeepMerge);
    }
    let second = args.swap_remove(1);
    let mut first = args.swap_remove(0);
    let (Value::Object(a), Value::Object(b)) = (&mut first, second) else {
        return Err(FailureReason::MergeOfNonObjects);
    };
    for (k, v) in b {
        a.insert(k, v);
    }
    Ok(first)
}

/// `java.util.Random`, so a seeded `States.MathRandom` gives what AWS's JVM gives.
/// Guess: that AWS computes `new Random(seed).nextInt(end - start) + start`.
pub(crate) struct JavaRandom(i64);

impl JavaRandom {
    pub(crate) fn new(seed: i64) -> Self {
        JavaRandom((seed ^ 0x5DEE_CE66D) & ((1 << 48) - 1))
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = (self.0.wrapping_mul(0x5DEE_CE66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.0 >> (48 - bits)) as i32
    }

    /// `Random.nextDouble`: 53 random bits in [0, 1).
    pub(crate) fn next_double(&mut self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        let low = i64::from(self.next(27));
        (high + low) as f64 * (1.0 / (1u64 << 53) as f64)
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

fn math_random(_: &Call, args: Vec<Value>, scope: &Scope<'_>) -> Result<Value, FailureReason> {
    let start = want_int(&args[0], "the start")?;
    let end = want_int(&args[1], "the end")?;
    let (Ok(start32), Ok(end32)) = (i32::try_from(start), i32::try_from(end)) else {
        return Err(FailureReason::BoundsOutOfRange);
    };
    let span = i64::from(end32) - i64::from(start32);
    if span <= 0 || span > i64::from(i32::MAX) {
        return Err(FailureReason::EmptyRange { start, end });
    }
    let span = span as i32;
    let r = match args.get(2) {
        Some(seed) => JavaRandom::new(want_int(seed, "the seed")?).next_int(span),
        None => match scope.rng.lock() {
            Ok(mut rng) => rng.random_range(0..span),
            Err(_) => return Err(FailureReason::RandomUnavailable),
        },
    };
    Ok(Value::from(i64::from(start32) + i64::from(r)))
}

/// Java's `Math.round`: half up, towards positive infinity.
fn java_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn math_add(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let mut sum = 0i64;
    for (v, argument) in args.iter().zip(["the first operand", "the second operand"]) {
        let n = match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => java_round(n.as_f64().unwrap_or(f64::NAN)) as i64,
            },
            _ => {
                return Err(FailureReason::WrongType {
                    argument,
                    expected: "a number",
                    found: type_name(v),
                })
            }
        };
        if i32::try_from(n).is_err() {
            return Err(FailureReason::OperandOutOfRange { argument });
        }
        sum += n;
    }
    Ok(Value::from(sum))
}

fn string_split(_: &Call, args: Vec<Value>, _: &Scope<'_>) -> Result<Value, FailureReason> {
    let s = want_str(&args[0], "the string")?;
    let delims = want_str(&args[1], "the delimiter")?;
    // Like java.util.StringTokenizer: every character of the delimiter splits, empties dropped.
    let parts = s
        .split(|c: char| delims.contains(c))
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_string()))
        .collect();
    Ok(Value::Array(parts))
}

fn uuid(_: &Call, _: Vec<Value>, scope: &Scope<'_>) -> Result<Value, FailureReason> {
    let mut bytes = [0u8; 16];
    match scope.rng.lock() {
        Ok(mut rng) => rng.fill(&mut bytes),
        Err(_) => return Err(FailureReason::RandomUnavailable),
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

    #[test]
    fn java_random_matches_the_jdk() {
        // `new java.util.Random(42).nextInt()` is -1170105035 on every JDK.
        assert_eq!(JavaRandom::new(42).next(32), -1_170_105_035);
    }

    #[test]
    fn every_function_is_in_the_table_once() {
        for (k, func) in FUNCS.iter().enumerate() {
            assert!(func.name.starts_with("States."), "{}", func.name);
            assert!(func.max.is_none_or(|max| max >= func.min), "{}", func.name);
            assert!(
                FUNCS[k + 1..].iter().all(|other| other.name != func.name),
                "{} twice",
                func.name
            );
        }
        assert_eq!(FUNCS.len(), 18);
    }
}
