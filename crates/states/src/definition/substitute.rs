//! `DefinitionSubstitutions`: `${Name}` replaced in every string before the definition is read.

use serde_json::Value;
use std::collections::HashMap;

/// Replaces `${Name}` in every string (keys included) by its substitution. Names with no
/// substitution are left as written (CloudFormation would refuse them; we cannot know them all).
pub(super) fn substitute(value: &mut Value, subs: &HashMap<String, String>) {
    fn apply(s: &str, subs: &HashMap<String, String>) -> Option<String> {
        if !s.contains("${") {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match subs.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&rest[start..start + 3 + end]),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }
    match value {
        Value::String(s) => {
            if let Some(n) = apply(s, subs) {
                *s = n;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, subs)),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                substitute(&mut v, subs);
                map.insert(apply(&k, subs).unwrap_or(k), v);
            }
        }
        _ => {}
    }
}
