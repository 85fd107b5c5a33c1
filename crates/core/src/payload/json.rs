//! Filters to and from the JSON that Qdrant clients send. Every error
//! message starts with the path of the bad field (`must[1].range: gt must be
//! a number`).

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Display;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::filter::{
    Condition, DatetimeRange, FieldCondition, FieldOp, Filter, IdSet, Match, MatchValue, MinShould,
    Nested, Range, ValueList, ValuesCount,
};
use super::id::id_from_value;
use super::{Datetime, KeyPath};
use crate::error::{Error, Result};

type Parsed<T> = core::result::Result<T, String>;

fn err(path: &str, msg: impl Display) -> String {
    if path.is_empty() {
        msg.to_string()
    } else {
        format!("{path}: {msg}")
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

const CLAUSES: [&str; 4] = ["must", "should", "must_not", "min_should"];
const FIELD_OPS: &str = "match, range, datetime_range, values_count, is_empty or is_null";

impl Filter {
    /// Parses the JSON text of a Qdrant filter.
    ///
    /// Errors are [`Error::InvalidFilter`] naming the bad field, e.g.
    /// `must[1].range: gt must be a number`.
    pub fn from_json_str(s: &str) -> Result<Filter> {
        let v: Value = serde_json::from_str(s)
            .map_err(|e| Error::InvalidFilter(format!("not valid JSON: {e}")))?;
        Filter::from_value(&v)
    }

    /// Parses a Qdrant filter from a JSON value; errors as
    /// [`Filter::from_json_str`].
    pub fn from_value(v: &Value) -> Result<Filter> {
        parse_filter(v, "", false).map_err(Error::InvalidFilter)
    }

    /// The filter as Qdrant's JSON.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if !self.must.is_empty() {
            m.insert("must".into(), conditions_value(&self.must));
        }
        if let Some(s) = &self.should {
            m.insert("should".into(), conditions_value(s));
        }
        if !self.must_not.is_empty() {
            m.insert("must_not".into(), conditions_value(&self.must_not));
        }
        if let Some(ms) = &self.min_should {
            let mut o = Map::new();
            o.insert("conditions".into(), conditions_value(&ms.conditions));
            o.insert("min_count".into(), ms.min_count.into());
            m.insert("min_should".into(), Value::Object(o));
        }
        Value::Object(m)
    }
}

impl Condition {
    /// Parses one Qdrant condition from a JSON value; errors are
    /// [`Error::InvalidFilter`] naming the bad field.
    pub fn from_value(v: &Value) -> Result<Condition> {
        parse_condition(v, "", false).map_err(Error::InvalidFilter)
    }

    /// The condition as Qdrant's JSON.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        match self {
            Condition::Field(f) => {
                m.insert("key".into(), f.key.as_str().into());
                let (name, v) = op_value(&f.op);
                m.insert(name.into(), v);
            }
            Condition::IsEmpty(k) => {
                m.insert("is_empty".into(), key_object(k));
            }
            Condition::IsNull(k) => {
                m.insert("is_null".into(), key_object(k));
            }
            Condition::HasId(ids) => {
                let list = ids
                    .as_slice()
                    .iter()
                    .map(|id| serde_json::to_value(id).unwrap_or(Value::Null))
                    .collect();
                m.insert("has_id".into(), Value::Array(list));
            }
            Condition::Nested(n) => {
                let mut o = Map::new();
                o.insert("key".into(), n.key.as_str().into());
                o.insert("filter".into(), n.filter.to_value());
                m.insert("nested".into(), Value::Object(o));
            }
            Condition::Filter(f) => {
                if f.is_empty() {
                    // `{}` is refused as a condition; this is the same filter.
                    m.insert("must".into(), Value::Array(Vec::new()));
                } else {
                    return f.to_value();
                }
            }
        }
        Value::Object(m)
    }
}

fn key_object(k: &KeyPath) -> Value {
    let mut o = Map::new();
    o.insert("key".into(), k.as_str().into());
    Value::Object(o)
}

fn conditions_value(cs: &[Condition]) -> Value {
    Value::Array(cs.iter().map(Condition::to_value).collect())
}

fn bounds<T>(b: [(&str, Option<T>); 4], f: impl Fn(T) -> Value) -> Value {
    let mut o = Map::new();
    for (name, v) in b {
        if let Some(v) = v {
            o.insert(name.into(), f(v));
        }
    }
    Value::Object(o)
}

fn op_value(op: &FieldOp) -> (&'static str, Value) {
    match op {
        FieldOp::Match(m) => {
            let (name, v) = match m {
                Match::Value(MatchValue::Keyword(s)) => ("value", Value::from(s.as_str())),
                Match::Value(MatchValue::Integer(n)) => ("value", Value::from(*n)),
                Match::Value(MatchValue::Bool(b)) => ("value", Value::from(*b)),
                Match::Any(l) => ("any", list_value(l)),
                Match::Except(l) => ("except", list_value(l)),
                Match::Text(t) => ("text", Value::from(t.as_str())),
                Match::Phrase(t) => ("phrase", Value::from(t.as_str())),
            };
            let mut o = Map::new();
            o.insert(name.into(), v);
            ("match", Value::Object(o))
        }
        FieldOp::Range(r) => (
            "range",
            bounds(
                [("gt", r.gt), ("gte", r.gte), ("lt", r.lt), ("lte", r.lte)],
                Value::from,
            ),
        ),
        FieldOp::DatetimeRange(r) => {
            let v = bounds(
                [("gt", r.gt), ("gte", r.gte), ("lt", r.lt), ("lte", r.lte)],
                |d| Value::String(d.to_string()),
            );
            // Qdrant's REST form is `range` with string bounds; without any
            // bound that would read back as a numeric range.
            let empty = v.as_object().is_some_and(Map::is_empty);
            (if empty { "datetime_range" } else { "range" }, v)
        }
        FieldOp::ValuesCount(c) => (
            "values_count",
            bounds(
                [("gt", c.gt), ("gte", c.gte), ("lt", c.lt), ("lte", c.lte)],
                Value::from,
            ),
        ),
        FieldOp::IsEmpty(b) => ("is_empty", Value::from(*b)),
        FieldOp::IsNull(b) => ("is_null", Value::from(*b)),
    }
}

fn list_value(l: &ValueList) -> Value {
    match l {
        ValueList::Keywords(v) => Value::Array(v.iter().map(|s| Value::from(s.as_str())).collect()),
        ValueList::Integers(v) => Value::Array(v.iter().map(|&n| Value::from(n)).collect()),
    }
}

fn object<'a>(v: &'a Value, path: &str, what: &str) -> Parsed<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        err(
            path,
            format!("{what} must be a JSON object, got {}", kind(v)),
        )
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Non-null entries of an object (clients send absent fields as `null`).
fn present(m: &Map<String, Value>) -> impl Iterator<Item = (&str, &Value)> {
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
}

fn parse_filter(v: &Value, path: &str, nested: bool) -> Parsed<Filter> {
    let m = object(v, path, "a filter")?;
    let mut f = Filter::default();
    for (k, v) in present(m) {
        let at = join(path, k);
        match k {
            "must" => f.must = parse_clause(v, &at, nested)?,
            "should" => f.should = Some(parse_clause(v, &at, nested)?),
            "must_not" => f.must_not = parse_clause(v, &at, nested)?,
            "min_should" => {
                let o = object(v, &at, "min_should")?;
                let mut conditions = None;
                let mut min_count = None;
                for (k2, v2) in present(o) {
                    let at2 = join(&at, k2);
                    match k2 {
                        "conditions" => conditions = Some(parse_clause(v2, &at2, nested)?),
                        "min_count" => {
                            min_count = Some(count_value(v2).ok_or_else(|| {
                                err(
                                    &at,
                                    format!("min_count must be a non-negative integer, got {v2}"),
                                )
                            })?)
                        }
                        _ => return Err(err(&at, format!("unknown field {k2:?}"))),
                    }
                }
                f.min_should = Some(MinShould {
                    conditions: conditions
                        .ok_or_else(|| err(&at, "missing field \"conditions\""))?,
                    min_count: min_count.ok_or_else(|| err(&at, "missing field \"min_count\""))?,
                });
            }
            _ => {
                return Err(err(
                    path,
                    format!(
                        "unknown field {k:?} (a filter has must, should, must_not, min_should)"
                    ),
                ));
            }
        }
    }
    Ok(f)
}

/// One condition object or an array of them.
fn parse_clause(v: &Value, path: &str, nested: bool) -> Parsed<Vec<Condition>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_condition(c, &format!("{path}[{i}]"), nested))
            .collect(),
        Value::Object(_) => Ok(alloc::vec![parse_condition(v, path, nested)?]),
        _ => Err(err(
            path,
            format!(
                "expected a condition or an array of conditions, got {}",
                kind(v)
            ),
        )),
    }
}

fn parse_condition(v: &Value, path: &str, nested: bool) -> Parsed<Condition> {
    let m = object(v, path, "a condition")?;
    if m.contains_key("key") {
        return parse_field(m, path).map(Condition::Field);
    }
    if m.keys().any(|k| CLAUSES.contains(&k.as_str())) {
        return parse_filter(v, path, nested).map(Condition::Filter);
    }
    let mut entries = present(m);
    let Some((k, body)) = entries.next() else {
        return Err(err(
            path,
            "empty condition (expected a field condition, is_empty, is_null, has_id, nested or a filter)",
        ));
    };
    if let Some((k2, _)) = entries.next() {
        return Err(err(path, format!("unknown field {k2:?} next to {k:?}")));
    }
    let at = join(path, k);
    match k {
        "is_empty" | "is_null" => {
            let o = object(body, &at, k)?;
            let mut key = None;
            for (k2, v2) in present(o) {
                match k2 {
                    "key" => key = Some(parse_key(v2, &at)?),
                    _ => return Err(err(&at, format!("unknown field {k2:?}"))),
                }
            }
            let key = key.ok_or_else(|| err(&at, "missing field \"key\""))?;
            Ok(if k == "is_empty" {
                Condition::IsEmpty(key)
            } else {
                Condition::IsNull(key)
            })
        }
        "has_id" => {
            if nested {
                return Err(err(path, "has_id is not supported inside a nested filter"));
            }
            let items = body.as_array().ok_or_else(|| {
                err(
                    &at,
                    format!("must be an array of point ids, got {}", kind(body)),
                )
            })?;
            let ids = items
                .iter()
                .enumerate()
                .map(|(i, x)| id_from_value(x).map_err(|e| err(&format!("{at}[{i}]"), e)))
                .collect::<Parsed<Vec<_>>>()?;
            Ok(Condition::HasId(IdSet::new(ids)))
        }
        "nested" => {
            let o = object(body, &at, "nested")?;
            let mut key = None;
            let mut filter = None;
            for (k2, v2) in present(o) {
                match k2 {
                    "key" => key = Some(parse_key(v2, &at)?),
                    "filter" => filter = Some(parse_filter(v2, &join(&at, "filter"), true)?),
                    _ => return Err(err(&at, format!("unknown field {k2:?}"))),
                }
            }
            Ok(Condition::Nested(Nested {
                key: key.ok_or_else(|| err(&at, "missing field \"key\""))?,
                filter: filter.ok_or_else(|| err(&at, "missing field \"filter\""))?,
            }))
        }
        "has_vector" => Err(err(
            path,
            "has_vector conditions are not supported on payloads",
        )),
        _ => Err(err(path, format!("unknown field {k:?}"))),
    }
}

fn parse_key(v: &Value, path: &str) -> Parsed<KeyPath> {
    let s = v
        .as_str()
        .ok_or_else(|| err(path, format!("key must be a string, got {}", kind(v))))?;
    KeyPath::parse(s).map_err(|e| err(&join(path, "key"), format!("invalid key {s:?}: {e}")))
}

fn parse_field(m: &Map<String, Value>, path: &str) -> Parsed<FieldCondition> {
    let key = parse_key(&m["key"], path)?;
    let mut ops: Vec<(&str, FieldOp)> = Vec::new();
    for (k, v) in present(m) {
        let at = join(path, k);
        let op = match k {
            "key" => continue,
            "match" => FieldOp::Match(parse_match(v, &at)?),
            "range" => parse_range(v, &at, false)?,
            "datetime_range" => parse_range(v, &at, true)?,
            "values_count" => FieldOp::ValuesCount(parse_count(v, &at)?),
            "is_empty" | "is_null" => {
                let b = v
                    .as_bool()
                    .ok_or_else(|| err(path, format!("{k} must be a bool, got {}", kind(v))))?;
                if k == "is_empty" {
                    FieldOp::IsEmpty(b)
                } else {
                    FieldOp::IsNull(b)
                }
            }
            "geo_radius" | "geo_bounding_box" | "geo_polygon" => {
                return Err(err(path, format!("{k} conditions are not supported")));
            }
            _ => return Err(err(path, format!("unknown field {k:?}"))),
        };
        ops.push((k, op));
    }
    if ops.len() > 1 {
        return Err(err(
            path,
            format!(
                "a field condition takes one operator, got {} and {}",
                ops[0].0, ops[1].0
            ),
        ));
    }
    let Some((_, op)) = ops.pop() else {
        return Err(err(
            path,
            format!(
                "condition on key {:?} has no operator (expected {FIELD_OPS})",
                key.as_str()
            ),
        ));
    };
    Ok(FieldCondition { key, op })
}

fn parse_match(v: &Value, path: &str) -> Parsed<Match> {
    let m = object(v, path, "match")?;
    let mut found: Option<(&str, Match)> = None;
    for (k, v) in present(m) {
        let parsed = match k {
            "value" => Match::Value(match v {
                Value::String(s) => MatchValue::Keyword(s.clone()),
                Value::Bool(b) => MatchValue::Bool(*b),
                Value::Number(n) => MatchValue::Integer(n.as_i64().ok_or_else(|| {
                    err(
                        path,
                        format!("value must be a string, an integer or a bool, got {n}"),
                    )
                })?),
                _ => {
                    return Err(err(
                        path,
                        format!(
                            "value must be a string, an integer or a bool, got {}",
                            kind(v)
                        ),
                    ));
                }
            }),
            "any" => Match::Any(parse_list(v, path, k)?),
            "except" => Match::Except(parse_list(v, path, k)?),
            "text" | "phrase" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| err(path, format!("{k} must be a string, got {}", kind(v))))?
                    .to_owned();
                if k == "text" {
                    Match::Text(s)
                } else {
                    Match::Phrase(s)
                }
            }
            _ => return Err(err(path, format!("unknown field {k:?}"))),
        };
        if let Some((first, _)) = found {
            return Err(err(
                path,
                format!("match takes one of value, any, except, text, phrase; got {first} and {k}"),
            ));
        }
        found = Some((k, parsed));
    }
    found
        .map(|(_, m)| m)
        .ok_or_else(|| err(path, "match needs one of value, any, except, text, phrase"))
}

fn parse_list(v: &Value, path: &str, name: &str) -> Parsed<ValueList> {
    let bad = || {
        err(
            path,
            format!("{name} must be an array of strings or an array of integers"),
        )
    };
    let items = v.as_array().ok_or_else(bad)?;
    if items.iter().all(Value::is_string) {
        return Ok(ValueList::Keywords(
            items
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
        ));
    }
    items
        .iter()
        .map(|x| x.as_i64().ok_or_else(bad))
        .collect::<Parsed<Vec<i64>>>()
        .map(ValueList::Integers)
}

fn bound_entries<'a>(m: &'a Map<String, Value>, path: &str) -> Parsed<Vec<(&'a str, &'a Value)>> {
    let mut out = Vec::new();
    for (k, v) in present(m) {
        match k {
            "gt" | "gte" | "lt" | "lte" => out.push((k, v)),
            _ => {
                return Err(err(
                    path,
                    format!("unknown field {k:?} (expected gt, gte, lt, lte)"),
                ));
            }
        }
    }
    Ok(out)
}

/// `range` (numbers, or datetimes when a bound is a datetime string) or
/// `datetime_range` (`datetimes` set).
fn parse_range(v: &Value, path: &str, datetimes: bool) -> Parsed<FieldOp> {
    let m = object(v, path, "range")?;
    let entries = bound_entries(m, path)?;
    let as_datetime = datetimes
        || entries
            .iter()
            .any(|(_, v)| v.as_str().and_then(Datetime::parse).is_some());
    if as_datetime {
        let mut r = DatetimeRange::default();
        for (k, v) in entries {
            let t = v.as_str().and_then(Datetime::parse).ok_or_else(|| {
                err(
                    path,
                    format!("{k} must be an RFC 3339 datetime string, got {v}"),
                )
            })?;
            *bound_slot(&mut r.gt, &mut r.gte, &mut r.lt, &mut r.lte, k) = Some(t);
        }
        return Ok(FieldOp::DatetimeRange(r));
    }
    let mut r = Range::default();
    for (k, v) in entries {
        let x = match v {
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        let x = x.ok_or_else(|| {
            if v.is_string() {
                err(
                    path,
                    format!("{k} must be a number or an RFC 3339 datetime, got {v}"),
                )
            } else {
                err(path, format!("{k} must be a number, got {v}"))
            }
        })?;
        *bound_slot(&mut r.gt, &mut r.gte, &mut r.lt, &mut r.lte, k) = Some(x);
    }
    Ok(FieldOp::Range(r))
}

fn bound_slot<'a, T>(
    gt: &'a mut Option<T>,
    gte: &'a mut Option<T>,
    lt: &'a mut Option<T>,
    lte: &'a mut Option<T>,
    k: &str,
) -> &'a mut Option<T> {
    match k {
        "gt" => gt,
        "gte" => gte,
        "lt" => lt,
        _ => lte,
    }
}

fn count_value(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok())
}

fn parse_count(v: &Value, path: &str) -> Parsed<ValuesCount> {
    let m = object(v, path, "values_count")?;
    let mut c = ValuesCount::default();
    for (k, v) in bound_entries(m, path)? {
        let n = count_value(v)
            .ok_or_else(|| err(path, format!("{k} must be a non-negative integer, got {v}")))?;
        *bound_slot(&mut c.gt, &mut c.gte, &mut c.lt, &mut c.lte, k) = Some(n);
    }
    Ok(c)
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    /// Accepts exactly what [`Filter::from_value`] accepts.
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        parse_filter(&v, "", false).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    /// Accepts exactly what [`Condition::from_value`] accepts.
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        parse_condition(&v, "", false).map_err(serde::de::Error::custom)
    }
}
