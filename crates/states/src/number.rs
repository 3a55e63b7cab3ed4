//! Numbers as AWS prints them.
//!
//! serde_json keeps what it parsed: `-0` becomes the double `-0.0` (it has no negative integer
//! zero) and prints as `-0.0`, and a JSONata result (every JSONata number is a double) prints as
//! `3.0`. AWS prints `0` and `3`: its Java side parses `-0` as the integer 0, and its JSONata side
//! is JavaScript, where `JSON.stringify(3.0)` is `3`. These functions rewrite such numbers so that
//! what the engine emits prints the same way.

use serde_json::{Number, Value};

/// The largest integer a double holds exactly (2^53); beyond it a double is printed as a double.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A negative zero becomes the integer `0`; every other number is kept as parsed. For JSON text
/// read the way AWS's Java side reads it (`States.StringToJson`, an execution's input), where
/// `1.0` stays a double and prints as `1.0`.
pub(crate) fn zero_sign(value: &mut Value) {
    walk(value, |n| {
        (n.as_f64() == Some(0.0) && n.is_f64()).then(|| Number::from(0))
    });
}

/// A number with no fractional part (within 2^53) becomes an integer, `-0` included; for
/// JSONata results, which JavaScript prints that way.
pub(crate) fn integral(value: &mut Value) {
    walk(value, |n| {
        let x = n.as_f64().filter(|_| n.is_f64())?;
        // In range, `x as i64` is exact, so this loses nothing.
        (x.fract() == 0.0 && x.abs() <= EXACT_INTEGER).then(|| Number::from(x as i64))
    });
}

/// Applies `rewrite` to every number in `value`, iteratively: values can nest deeper than the
/// native stack allows recursion.
fn walk(value: &mut Value, rewrite: impl Fn(&Number) -> Option<Number>) {
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Number(n) => {
                if let Some(m) = rewrite(n) {
                    *n = m;
                }
            }
            Value::Array(items) => todo.extend(items.iter_mut()),
            Value::Object(map) => todo.extend(map.values_mut()),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn printed(text: &str, f: fn(&mut Value)) -> String {
        let mut v: Value = serde_json::from_str(text).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn negative_zero_prints_as_zero() {
        // What serde_json does on its own, and why this module exists.
        assert_eq!(
            serde_json::from_str::<Value>("-0").unwrap().to_string(),
            "-0.0"
        );
        assert_eq!(printed("-0", zero_sign), "0");
        assert_eq!(printed("[-0, {\"a\": -0.0}]", zero_sign), "[0,{\"a\":0}]");
        assert_eq!(printed("[1.0, 1.5, -3]", zero_sign), "[1.0,1.5,-3]");
    }

    #[test]
    fn integral_doubles_print_as_integers() {
        assert_eq!(
            printed(
                "[-0, 3.0, 1.5, -2.0, 1e300, 12345678901234567890]",
                integral
            ),
            "[0,3,1.5,-2,1e+300,12345678901234567890]"
        );
        let mut v = json!({"a": [{"b": 2.0}]});
        integral(&mut v);
        assert_eq!(v.to_string(), r#"{"a":[{"b":2}]}"#);
    }
}
