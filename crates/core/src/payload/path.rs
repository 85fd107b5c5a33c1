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

    /// Merges `src` into the object at this key of `payload`, as Qdrant's
    /// `set_payload` with a `key` does: missing objects on the way are
    /// created and values that are not objects are replaced by one; `a[2]`
    /// extends a shorter array with nulls (or makes one), `a[]` merges into
    /// every element of the array `a` (and leaves `[]` where `a` is not an
    /// array). Keys of `src` whose value is null are removed ([`merge`]).
    ///
    /// Errors ([`SetError`]) when an index lies [`MAX_ARRAY_GROWTH`] or
    /// more past the end of its array; `payload` may then be
    /// partly changed, so callers edit a copy.
    pub(crate) fn merge_into(
        &self,
        payload: &mut Payload,
        src: &Payload,
    ) -> core::result::Result<(), SetError> {
        let slot = payload.entry(self.first.clone()).or_insert(Value::Null);
        merge_at(&self.rest, slot, src)
    }

    /// Removes the values at this key from `payload`, as Qdrant's
    /// `delete_payload` does: `a.b` removes the field `b` of the object `a`,
    /// `a[1]` the second element of the array `a` (later ones move up),
    /// `a[]` every element (leaving `[]`), `a[].b` the field `b` of every
    /// element. Returns whether anything was removed.
    pub(crate) fn remove_from(&self, payload: &mut Payload) -> bool {
        match self.rest.split_last() {
            None => payload.remove(&self.first).is_some(),
            Some((last, path)) => payload
                .get_mut(&self.first)
                .is_some_and(|v| remove_at(path, last, v)),
        }
    }
}

/// How far past its end [`KeyPath::merge_into`] extends an array with
/// nulls: a key like `a[1000000000]` must not allocate a billion values.
pub(crate) const MAX_ARRAY_GROWTH: usize = 1024;

/// [`KeyPath::merge_into`] met an index too far past the end of its array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SetError {
    /// The index in the key.
    pub index: usize,
    /// The array's length.
    pub len: usize,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "array index {} lies {MAX_ARRAY_GROWTH} or more past the end of an array of {}",
            self.index, self.len
        )
    }
}

/// Qdrant's payload merge: each key of `src` replaces the key of `dest`,
/// except that a null value removes the key.
pub(crate) fn merge(dest: &mut Payload, src: &Payload) {
    for (k, v) in src {
        if v.is_null() {
            dest.remove(k);
        } else {
            dest.insert(k.clone(), v.clone());
        }
    }
}

fn merge_at(steps: &[Step], v: &mut Value, src: &Payload) -> core::result::Result<(), SetError> {
    let Some((head, tail)) = steps.split_first() else {
        if !v.is_object() {
            *v = Value::Object(Payload::new());
        }
        if let Value::Object(m) = v {
            merge(m, src);
        }
        return Ok(());
    };
    match head {
        Step::Key(k) => {
            if !v.is_object() {
                *v = Value::Object(Payload::new());
            }
            match v {
                Value::Object(m) => merge_at(tail, m.entry(k.clone()).or_insert(Value::Null), src),
                _ => Ok(()),
            }
        }
        Step::Index(n) => {
            if !v.is_array() {
                *v = Value::Array(Vec::new());
            }
            let Value::Array(items) = v else {
                return Ok(());
            };
            if *n >= items.len() {
                if *n - items.len() >= MAX_ARRAY_GROWTH {
                    return Err(SetError {
                        index: *n,
                        len: items.len(),
                    });
                }
                items.resize(*n + 1, Value::Null);
            }
            merge_at(tail, &mut items[*n], src)
        }
        Step::Each => match v {
            Value::Array(items) => items.iter_mut().try_for_each(|x| merge_at(tail, x, src)),
            _ => {
                *v = Value::Array(Vec::new());
                Ok(())
            }
        },
    }
}

/// Removes what `last` addresses inside the values `path` leads to from `v`.
fn remove_at(path: &[Step], last: &Step, v: &mut Value) -> bool {
    if let Some((head, tail)) = path.split_first() {
        return match (head, v) {
            (Step::Key(k), Value::Object(m)) => {
                m.get_mut(k).is_some_and(|x| remove_at(tail, last, x))
            }
            (Step::Index(n), Value::Array(items)) => {
                items.get_mut(*n).is_some_and(|x| remove_at(tail, last, x))
            }
            (Step::Each, Value::Array(items)) => items
                .iter_mut()
                .fold(false, |any, x| remove_at(tail, last, x) | any),
            _ => false,
        };
    }
    match (last, v) {
        (Step::Key(k), Value::Object(m)) => m.remove(k).is_some(),
        (Step::Index(n), Value::Array(items)) if *n < items.len() => {
            items.remove(*n);
            true
        }
        (Step::Each, Value::Array(items)) => !core::mem::take(items).is_empty(),
        _ => false,
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

    /// `set_payload` with a key, case by case (Qdrant's behaviour).
    #[test]
    fn merge_into_a_key() {
        let set = |start: Value, key: &str, src: Value| {
            let mut p = payload(start);
            KeyPath::parse(key)
                .unwrap()
                .merge_into(&mut p, &payload(src))
                .unwrap();
            Value::Object(p)
        };
        let doc = json!({"a": {"b": [{"c": 1}, {"c": 2}], "k": 0}, "f": 3});
        // Into an existing object: other fields stay, nulls remove.
        assert_eq!(
            set(doc.clone(), "a", json!({"k": null, "n": 1})),
            json!({"a": {"b": [{"c": 1}, {"c": 2}], "n": 1}, "f": 3})
        );
        // Into one element, and into every element.
        assert_eq!(
            set(doc.clone(), "a.b[1]", json!({"c": 5})),
            json!({"a": {"b": [{"c": 1}, {"c": 5}], "k": 0}, "f": 3})
        );
        assert_eq!(
            set(doc.clone(), "a.b[]", json!({"d": true})),
            json!({"a": {"b": [{"c": 1, "d": true}, {"c": 2, "d": true}], "k": 0}, "f": 3})
        );
        // Missing objects are created; scalars on the way are replaced.
        assert_eq!(
            set(json!({}), "x.y", json!({"c": 1})),
            json!({"x": {"y": {"c": 1}}})
        );
        assert_eq!(
            set(json!({"f": 3}), "f.g", json!({"c": 1})),
            json!({"f": {"g": {"c": 1}}})
        );
        assert_eq!(set(json!({}), "x", json!({})), json!({"x": {}}));
        // An index past the end pads with nulls; `[]` on a non-array leaves [].
        assert_eq!(
            set(json!({}), "x[2]", json!({"c": 1})),
            json!({"x": [null, null, {"c": 1}]})
        );
        assert_eq!(
            set(json!({"x": 1}), "x[].y", json!({"c": 1})),
            json!({"x": []})
        );
        // A huge index is refused instead of allocated.
        let mut p = payload(json!({"x": [1]}));
        let err = KeyPath::parse("x[5000]")
            .unwrap()
            .merge_into(&mut p, &payload(json!({"c": 1})))
            .unwrap_err();
        assert_eq!((err.index, err.len), (5000, 1));
        assert!(err.to_string().contains("5000"), "{err}");
    }

    /// `delete_payload` keys, case by case (Qdrant's behaviour).
    #[test]
    fn remove_from_a_key() {
        let doc = json!({
            "a": 1,
            "b": {"c": 2, "e": {"f": [1, 2, 3], "i": [{"j": 1, "k": 2}, {"j": 3, "k": 4}]}}
        });
        let del = |key: &str| {
            let mut p = payload(doc.clone());
            let removed = KeyPath::parse(key).unwrap().remove_from(&mut p);
            (removed, Value::Object(p))
        };
        let (hit, p) = del("a");
        assert!(hit);
        assert!(p.get("a").is_none() && p.get("b").is_some());
        assert_eq!(del("b.c").1["b"].get("c"), None);
        assert_eq!(del("b.e.f[1]").1["b"]["e"]["f"], json!([1, 3]));
        assert_eq!(
            del("b.e.i[].k").1["b"]["e"]["i"],
            json!([{"j": 1}, {"j": 3}])
        );
        assert_eq!(del("b.e.i[0].j").1["b"]["e"]["i"][0], json!({"k": 2}));
        assert_eq!(del("b.e.i[]").1["b"]["e"]["i"], json!([]));
        for missing in ["z", "b.z", "a.z", "b.e.f[7]", "b.c[]", "b.e.i[].z"] {
            assert_eq!(del(missing), (false, doc.clone()), "{missing}");
        }
    }
}
