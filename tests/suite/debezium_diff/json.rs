//! Comparing two writers' JSON messages: the paths where they differ,
//! renaming a prefix, removing the fields that may differ, and matching the
//! known gaps' patterns (see the parent module).

use serde_json::Value as Json;

use super::MAY_DIFFER;

/// The path of every difference between `a` (Debezium) and `b` (Sluice):
/// struct fields by name, schema `fields` entries by their `field`.
pub(super) fn diff(path: &str, a: &Json, b: &Json, out: &mut Vec<String>) {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for (k, va) in x {
                let p = format!("{path}.{k}");
                match y.get(k) {
                    Some(vb) => diff(&p, va, vb, out),
                    None => out.push(format!("{p}: debezium={va} sluice=<absent>")),
                }
            }
            for (k, vb) in y {
                if !x.contains_key(k) {
                    out.push(format!("{path}.{k}: debezium=<absent> sluice={vb}"));
                }
            }
        }
        (Json::Array(x), Json::Array(y)) => {
            let named = |v: &[Json]| -> Option<Vec<String>> {
                v.iter()
                    .map(|f| f.get("field").and_then(Json::as_str).map(str::to_string))
                    .collect()
            };
            match (named(x), named(y)) {
                (Some(nx), Some(ny)) => {
                    if nx != ny {
                        out.push(format!("{path}: field order debezium={nx:?} sluice={ny:?}"));
                    }
                    for (fa, n) in x.iter().zip(&nx) {
                        if let Some(i) = ny.iter().position(|m| m == n) {
                            diff(&format!("{path}[{n}]"), fa, &y[i], out);
                        }
                    }
                }
                _ if x.len() == y.len() => {
                    for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                        diff(&format!("{path}[{i}]"), va, vb, out);
                    }
                }
                _ => out.push(format!("{path}: debezium={a} sluice={b}")),
            }
        }
        _ if a != b => out.push(format!("{path}: debezium={a} sluice={b}")),
        _ => {}
    }
}

/// Replaces Sluice's prefix by Debezium's in every string that names it.
pub(super) fn rename(v: &mut Json, from: &str, to: &str) {
    match v {
        Json::String(s) => {
            if s == from {
                *s = to.to_string();
            } else if let Some(rest) = s.strip_prefix(&format!("{from}.")) {
                *s = format!("{to}.{rest}");
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|x| rename(x, from, to)),
        Json::Object(o) => o.values_mut().for_each(|x| rename(x, from, to)),
        _ => {}
    }
}

/// Removes [`MAY_DIFFER`] from a value's payload (never from its schema).
pub(super) fn strip(v: &mut Json) {
    let Some(p) = v.get_mut("payload").and_then(Json::as_object_mut) else {
        return;
    };
    for f in MAY_DIFFER {
        match f.split_once('.') {
            Some((outer, inner)) => {
                if let Some(o) = p.get_mut(outer).and_then(Json::as_object_mut) {
                    o.remove(inner);
                }
            }
            None => {
                p.remove(*f);
            }
        }
    }
}

/// `pattern` matches `text` whole; `*` matches any run of characters
/// without a `.`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            let run = rest.find('.').unwrap_or(rest.len());
            (0..=run).any(|n| glob(tail, &rest[n..]))
        }
    }
}

/// The entry of `gaps` matching `op:path`, if any.
pub(super) fn known(gaps: &[(&str, &str)], op: &str, path: &str) -> Option<usize> {
    let text = format!("{op}:{path}");
    gaps.iter().position(|(pat, _)| glob(pat, &text))
}

#[test]
fn gap_patterns_match_one_segment_per_star() {
    assert!(glob("*:value.payload.*.b10", "c:value.payload.after.b10"));
    assert!(!glob("*:value.payload.*.b10", "c:value.payload.after.b100"));
    assert!(glob(
        "*:value.schema.fields[*].fields[b10].*",
        "r:value.schema.fields[before].fields[b10].parameters"
    ));
    assert!(!glob("r:value.payload.after.f", "c:value.payload.after.f"));
    assert!(!glob(
        "*:value.payload.*.j",
        "c:value.payload.after.source.j"
    ));
}
