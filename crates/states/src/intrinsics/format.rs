//! How AWS's Java side prints what it got from JSON, which `States.Format` shows: numbers as
//! `Double.toString` does, objects as `java.util.Map.toString`, and `States.Format` templates
//! cut at their `{}` holes.

use serde_json::{Number, Value};

/// Java's `Double.toString`: plain between 10^-3 and 10^7, otherwise `d.dddE±n`.
fn java_double(x: f64) -> String {
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
pub(super) fn java_string(v: &Value, out: &mut String) {
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
pub(super) fn format_pieces(raw: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1.0e-4), "1.0E-4");
        assert_eq!(java_double(1234567.0), "1234567.0");
        assert_eq!(java_double(12345678.9), "1.23456789E7");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn values_print_like_java_objects() {
        let mut out = String::new();
        java_string(
            &json!({"a": [1, 2.5, null], "b": {"c": true}, "s": "x"}),
            &mut out,
        );
        assert_eq!(out, "{a=[1, 2.5, null], b={c=true}, s=x}");
    }

    #[test]
    fn templates_are_cut_at_unescaped_holes() {
        assert_eq!(format_pieces("a{}b\\{\\}{}"), ["a", "b{}", ""]);
    }
}
