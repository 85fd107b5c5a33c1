//! Payload key paths: `a.b.c`, `a[].b`, `a[0].b`, `"key.with.dots".c`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::hash::{Hash, Hasher};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::Payload;

/// A parsed payload key, as Qdrant writes them.
///
/// - `a.b.c` descends through objects;
/// - `a[]` stands for every element of the array `a`, so `a[].b` is the
///   field `b` of every object in `a`;
/// - `a[2]` is one element;
/// - a segment in double quotes may hold dots or brackets: `"a.b".c`.
///
/// As in Qdrant, a plain key does not descend into arrays: `a.b` finds
/// nothing when `a` is an array of objects (write `a[].b`). Arrays at the
/// end of a path are kept whole by [`KeyPath::values`]; conditions then test
/// their elements ([`KeyPath::flat_values`]).
#[derive(Debug, Clone)]
pub struct KeyPath {
    raw: String,
    first: String,
    rest: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Key(String),
    Index(usize),
    Each,
}

impl KeyPath {
    /// Parses a key; the error says what is wrong with it.
    pub fn parse(s: &str) -> core::result::Result<KeyPath, String> {
        let b = s.as_bytes();
        let mut i = 0;
        let first = segment(s, &mut i)?;
        let mut rest = Vec::new();
        while i < b.len() {
            match b[i] {
                b'.' => {
                    i += 1;
                    rest.push(Step::Key(segment(s, &mut i)?));
                }
                b'[' => {
                    let close = s[i..]
                        .find(']')
                        .map(|j| i + j)
                        .ok_or_else(|| format!("unclosed '[' at byte {i}"))?;
                    let inner = &s[i + 1..close];
                    if inner.is_empty() {
                        rest.push(Step::Each);
                    } else if inner.bytes().all(|c| c.is_ascii_digit()) {
                        let n = inner
                            .parse()
                            .map_err(|_| format!("array index {inner} is too large"))?;
                        rest.push(Step::Index(n));
                    } else {
                        return Err(format!(
                            "array index must be empty or a number, got [{inner}]"
                        ));
                    }
                    i = close + 1;
                }
                c => return Err(format!("unexpected '{}' at byte {i}", c as char)),
            }
        }
        Ok(KeyPath {
            raw: s.to_string(),
            first,
            rest,
        })
    }

    /// The key as it was written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The values at this key, arrays at the end kept whole: for
    /// `{"a": [{"b": [1, 2]}, {"b": 3}, {}]}` the key `a[].b` gives
    /// `[1, 2]` and `3`. Empty when the key leads nowhere.
    pub fn values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        if let Some(v) = payload.get(&self.first) {
            walk(&self.rest, v, &mut out);
        }
        out
    }

    /// The values that conditions test: [`values`](Self::values) with each
    /// array replaced by its elements (one level, as Qdrant flattens).
    /// Nulls are kept.
    pub fn flat_values<'a>(&self, payload: &'a Payload) -> Vec<&'a Value> {
        let mut out = Vec::new();
        for v in self.values(payload) {
            match v {
                Value::Array(items) => out.extend(items.iter()),
                _ => out.push(v),
            }
        }
        out
    }

    /// This key with `[]` appended unless it already ends in `[]`: the
    /// elements a `nested` condition looks at.
    pub(crate) fn elements(&self) -> KeyPath {
        let mut p = self.clone();
        if p.rest.last() != Some(&Step::Each) {
            p.rest.push(Step::Each);
            p.raw.push_str("[]");
        }
        p
    }
}

/// One object key at `*i`, plain or quoted; advances `*i` past it.
fn segment(s: &str, i: &mut usize) -> core::result::Result<String, String> {
    let rest = &s[*i..];
    if let Some(q) = rest.strip_prefix('"') {
        let end = q
            .find('"')
            .ok_or_else(|| format!("unclosed quote at byte {}", *i))?;
        *i += end + 2;
        return Ok(q[..end].to_string());
    }
    let len = rest.find(['.', '[', ']', '"']).unwrap_or(rest.len());
    if len == 0 {
        return Err(if rest.is_empty() {
            "empty key segment at the end".to_string()
        } else {
            format!("empty key segment at byte {}", *i)
        });
    }
    *i += len;
    Ok(rest[..len].to_string())
}

fn walk<'a>(steps: &[Step], v: &'a Value, out: &mut Vec<&'a Value>) {
    let Some((head, tail)) = steps.split_first() else {
        out.push(v);
        return;
    };
    match (head, v) {
        (Step::Key(k), Value::Object(m)) => {
            if let Some(next) = m.get(k) {
                walk(tail, next, out);
            }
        }
        (Step::Index(n), Value::Array(items)) => {
            if let Some(next) = items.get(*n) {
                walk(tail, next, out);
            }
        }
        (Step::Each, Value::Array(items)) => {
            for next in items {
                walk(tail, next, out);
            }
        }
        _ => {}
    }
}

impl PartialEq for KeyPath {
    /// Two keys are equal when they address the same values (`"a".b` equals
    /// `a.b`).
    fn eq(&self, other: &Self) -> bool {
        self.first == other.first && self.rest == other.rest
    }
}

impl Eq for KeyPath {}

impl Hash for KeyPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.first.hash(state);
        self.rest.hash(state);
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for KeyPath {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for KeyPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KeyPath::parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid key path {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        match v {
            Value::Object(m) => m,
            _ => panic!("payload must be an object"),
        }
    }

    fn vals(key: &str, p: &Payload) -> Vec<Value> {
        KeyPath::parse(key)
            .unwrap()
            .values(p)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn paths_select_values_as_qdrant_does() {
        let p = payload(json!({
            "a": {"b": {"c": 1}},
            "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}],
            "deep": [{"x": [{"y": 1}]}, {"x": [{"y": 3}, {"y": 5}]}],
            "g": ["g0", "g1", "g2"],
            "dotted.key": {"c": 7},
        }));
        assert_eq!(vals("a.b.c", &p), [json!(1)]);
        assert_eq!(vals("a.b", &p), [json!({"c": 1})]);
        assert!(vals("a.b.c.d", &p).is_empty());
        assert!(vals("missing", &p).is_empty());
        // Leaf arrays are kept whole; `[]` takes elements.
        assert_eq!(vals("arr[].a", &p), [json!([1, 2, 3]), json!(4)]);
        assert_eq!(vals("arr[].a[]", &p), [json!(1), json!(2), json!(3)]);
        assert_eq!(vals("deep[].x[].y", &p), [json!(1), json!(3), json!(5)]);
        assert_eq!(vals("g[2]", &p), [json!("g2")]);
        assert!(vals("g[3]", &p).is_empty());
        assert_eq!(vals("arr[1].a", &p), [json!(4)]);
        // A plain key does not descend into an array of objects.
        assert!(vals("arr.a", &p).is_empty());
        assert!(vals("deep.x.y", &p).is_empty());
        assert_eq!(vals("\"dotted.key\".c", &p), [json!(7)]);
        let flat: Vec<Value> = KeyPath::parse("arr[].a")
            .unwrap()
            .flat_values(&p)
            .into_iter()
            .cloned()
            .collect();
        assert_eq!(flat, [json!(1), json!(2), json!(3), json!(4)]);
    }

    #[test]
    fn malformed_paths_are_rejected_and_equal_paths_compare_equal() {
        for bad in ["", ".a", "a.", "a..b", "a[", "a[x]", "a]b", "\"a", "a\"b\""] {
            assert!(KeyPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            KeyPath::parse("\"a\".b[]").unwrap(),
            KeyPath::parse("a.b[]").unwrap()
        );
        assert_ne!(
            KeyPath::parse("a.b").unwrap(),
            KeyPath::parse("a[].b").unwrap()
        );
        assert_eq!(
            KeyPath::parse("diet").unwrap().elements().as_str(),
            "diet[]"
        );
        assert_eq!(
            KeyPath::parse("diet[]").unwrap().elements().as_str(),
            "diet[]"
        );
    }
}
