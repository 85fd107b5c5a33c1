//! Qdrant's filter grammar and its evaluation against one payload.

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::Value;

use super::{Datetime, KeyPath, Payload, PointId};

/// A Qdrant filter: every `must` condition holds, at least one `should`
/// condition holds (when `should` is given), at least `min_count` of the
/// `min_should` conditions hold, and no `must_not` condition holds.
///
/// As in Qdrant, `should: []` (given but empty) matches nothing, while a
/// missing `should` imposes nothing; an empty filter matches every point.
/// Parse one from JSON with [`Filter::from_json_str`] or serde.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// Conditions that must all hold (AND).
    pub must: Vec<Condition>,
    /// When present, at least one must hold (OR).
    pub should: Option<Vec<Condition>>,
    /// Conditions none of which may hold (NOR).
    pub must_not: Vec<Condition>,
    /// At least `min_count` of these conditions must hold.
    pub min_should: Option<MinShould>,
}

/// `min_should`: at least `min_count` of `conditions` must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct MinShould {
    /// The candidate conditions.
    pub conditions: Vec<Condition>,
    /// How many of them must hold (0 always holds).
    pub min_count: usize,
}

/// One condition of a filter clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A test on the values at a key.
    Field(FieldCondition),
    /// `is_empty`: the key is missing, null, `[]`, or every value at it is
    /// null or `[]`.
    IsEmpty(KeyPath),
    /// `is_null`: some value at the key is an explicit `null` (a missing key
    /// is not null, nor is `[null]`).
    IsNull(KeyPath),
    /// `has_id`: the point's id is one of these.
    HasId(IdSet),
    /// `nested`: the inner filter holds for one single element of the array
    /// of objects at the key.
    Nested(Nested),
    /// A filter used as a condition.
    Filter(Filter),
}

/// A `nested` condition: `filter`, with keys relative to the elements,
/// must hold for at least one object in the array at `key` (`key` and
/// `key[]` mean the same).
#[derive(Debug, Clone, PartialEq)]
pub struct Nested {
    /// The array of objects.
    pub key: KeyPath,
    /// The filter one element must satisfy (no `has_id` inside).
    pub filter: Filter,
}

/// The ids of a `has_id` condition, sorted and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdSet(Vec<PointId>);

impl IdSet {
    /// The set of these ids.
    pub fn new(ids: impl IntoIterator<Item = PointId>) -> Self {
        let mut v: Vec<PointId> = ids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        IdSet(v)
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &PointId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// The ids, in order.
    pub fn as_slice(&self) -> &[PointId] {
        &self.0
    }
}

/// A condition on the values at one key.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCondition {
    /// Where the values are.
    pub key: KeyPath,
    /// What they are tested for.
    pub op: FieldOp,
}

/// The test of a [`FieldCondition`]. Values of another type than the test
/// expects do not satisfy it; a test on an array holds when it holds for one
/// element.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldOp {
    /// `match`.
    Match(Match),
    /// `range` on numbers (integers and floats alike).
    Range(Range),
    /// `range` with datetime bounds (Qdrant's `DatetimeRange`).
    DatetimeRange(DatetimeRange),
    /// `values_count`: how many values the key holds (an array counts its
    /// elements, null and a missing key 0, anything else 1).
    ValuesCount(ValuesCount),
    /// `"is_empty": true|false` inside a field condition.
    IsEmpty(bool),
    /// `"is_null": true|false` inside a field condition.
    IsNull(bool),
}

/// The forms of `match`.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// `value`: equal to this keyword, integer or bool. An integer never
    /// equals a float payload (`5.0`), a bool never equals `0`/`1`.
    Value(MatchValue),
    /// `any`: equal to one of these.
    Any(ValueList),
    /// `except`: some value is not one of these. Matches values of other
    /// types (not null); a missing key or `[]` does not match.
    Except(ValueList),
    /// `text`: a string containing this substring (case-sensitive, as
    /// Qdrant without a full-text index).
    Text(String),
    /// `phrase`: as `text` without a full-text index.
    Phrase(String),
}

/// The value of `match.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchValue {
    /// A string.
    Keyword(String),
    /// An integer.
    Integer(i64),
    /// A bool.
    Bool(bool),
}

/// The list of `match.any` or `match.except`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueList {
    /// Strings (also the type of an empty list).
    Keywords(Vec<String>),
    /// Integers.
    Integers(Vec<i64>),
}

/// Bounds of a numeric `range`; absent bounds do not restrict.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Range {
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
}

/// Bounds of a datetime `range`, compared as UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatetimeRange {
    /// Later than.
    pub gt: Option<Datetime>,
    /// Later than or equal.
    pub gte: Option<Datetime>,
    /// Earlier than.
    pub lt: Option<Datetime>,
    /// Earlier than or equal.
    pub lte: Option<Datetime>,
}

/// Bounds on the number of values at a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValuesCount {
    /// More than.
    pub gt: Option<usize>,
    /// At least.
    pub gte: Option<usize>,
    /// Fewer than.
    pub lt: Option<usize>,
    /// At most.
    pub lte: Option<usize>,
}

impl Range {
    /// Whether `x` lies within the bounds.
    pub fn contains(&self, x: f64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

impl DatetimeRange {
    /// Whether `t` lies within the bounds.
    pub fn contains(&self, t: Datetime) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

impl ValuesCount {
    /// Whether a count of `n` lies within the bounds.
    pub fn contains(&self, n: usize) -> bool {
        self.gt.is_none_or(|b| n > b)
            && self.gte.is_none_or(|b| n >= b)
            && self.lt.is_none_or(|b| n < b)
            && self.lte.is_none_or(|b| n <= b)
    }
}

impl ValueList {
    fn has_str(&self, s: &str) -> Option<bool> {
        match self {
            ValueList::Keywords(l) => Some(l.iter().any(|x| x == s)),
            ValueList::Integers(_) => None,
        }
    }

    fn has_int(&self, n: i64) -> Option<bool> {
        match self {
            ValueList::Integers(l) => Some(l.contains(&n)),
            ValueList::Keywords(_) => None,
        }
    }
}

impl Filter {
    /// A filter that matches every point.
    pub fn new() -> Self {
        Filter::default()
    }

    /// Whether the point with this id and payload passes the filter.
    pub fn matches(&self, id: &PointId, payload: &Payload) -> bool {
        self.check(Some(id), payload)
    }

    /// Evaluation; `id` is `None` inside `nested`, where `has_id` never holds.
    pub(crate) fn check(&self, id: Option<&PointId>, payload: &Payload) -> bool {
        self.must.iter().all(|c| c.check(id, payload))
            && self
                .should
                .as_ref()
                .is_none_or(|s| s.iter().any(|c| c.check(id, payload)))
            && self.min_should.as_ref().is_none_or(|m| {
                m.conditions
                    .iter()
                    .filter(|c| c.check(id, payload))
                    .take(m.min_count)
                    .count()
                    == m.min_count
            })
            && !self.must_not.iter().any(|c| c.check(id, payload))
    }

    /// True when the filter has no clause at all (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.must.is_empty()
            && self.should.is_none()
            && self.must_not.is_empty()
            && self.min_should.is_none()
    }
}

impl Condition {
    /// Whether the condition holds for the point with this id and payload.
    pub fn matches(&self, id: &PointId, payload: &Payload) -> bool {
        self.check(Some(id), payload)
    }

    pub(crate) fn check(&self, id: Option<&PointId>, payload: &Payload) -> bool {
        match self {
            Condition::Field(f) => f.matches(payload),
            Condition::IsEmpty(k) => is_empty(&k.values(payload)),
            Condition::IsNull(k) => is_null(&k.values(payload)),
            Condition::HasId(ids) => id.is_some_and(|id| ids.contains(id)),
            Condition::Nested(n) => n
                .key
                .elements()
                .values(payload)
                .into_iter()
                .filter_map(Value::as_object)
                .any(|obj| n.filter.check(None, obj)),
            Condition::Filter(f) => f.check(id, payload),
        }
    }
}

fn is_empty(values: &[&Value]) -> bool {
    values.iter().all(|v| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    })
}

fn is_null(values: &[&Value]) -> bool {
    values.iter().any(|v| v.is_null())
}

impl FieldCondition {
    /// Whether the condition holds for this payload.
    pub fn matches(&self, payload: &Payload) -> bool {
        field_matches(&self.key, &self.op, payload)
    }
}

/// [`FieldCondition::matches`] without owning the key and operator.
pub(crate) fn field_matches(key: &KeyPath, op: &FieldOp, payload: &Payload) -> bool {
    let values = key.values(payload);
    match op {
        FieldOp::ValuesCount(c) => {
            if values.is_empty() {
                c.contains(0)
            } else {
                values.iter().any(|v| c.contains(count(v)))
            }
        }
        FieldOp::IsEmpty(want) => is_empty(&values) == *want,
        FieldOp::IsNull(want) => is_null(&values) == *want,
        op => values.iter().any(|v| match v {
            Value::Array(items) => items.iter().any(|x| op.test(x)),
            _ => op.test(v),
        }),
    }
}

fn count(v: &Value) -> usize {
    match v {
        Value::Null => 0,
        Value::Array(a) => a.len(),
        _ => 1,
    }
}

impl FieldOp {
    /// The test on one (already flattened) value, for `match`, `range` and
    /// `datetime_range`; false for the other operators.
    pub(crate) fn test(&self, v: &Value) -> bool {
        match self {
            FieldOp::Match(m) => m.test(v),
            FieldOp::Range(r) => v
                .as_number()
                .and_then(|n| n.as_f64())
                .is_some_and(|x| r.contains(x)),
            FieldOp::DatetimeRange(r) => v
                .as_str()
                .and_then(Datetime::parse)
                .is_some_and(|t| r.contains(t)),
            FieldOp::ValuesCount(_) | FieldOp::IsEmpty(_) | FieldOp::IsNull(_) => false,
        }
    }
}

impl Match {
    fn test(&self, v: &Value) -> bool {
        match self {
            Match::Value(MatchValue::Keyword(s)) => v.as_str() == Some(s.as_str()),
            Match::Value(MatchValue::Integer(n)) => as_int(v) == Some(*n),
            Match::Value(MatchValue::Bool(b)) => v.as_bool() == Some(*b),
            Match::Any(list) => match v {
                Value::String(s) => list.has_str(s) == Some(true),
                Value::Number(_) => as_int(v).and_then(|n| list.has_int(n)) == Some(true),
                _ => false,
            },
            // Qdrant: a value of another type than the list is "outside" it;
            // only null never matches.
            Match::Except(list) => match v {
                Value::Null => false,
                Value::String(s) => list.has_str(s) != Some(true),
                Value::Number(_) => as_int(v).and_then(|n| list.has_int(n)) != Some(true),
                _ => true,
            },
            Match::Text(t) | Match::Phrase(t) => v.as_str().is_some_and(|s| s.contains(t.as_str())),
        }
    }
}

/// An integer JSON number as `i64` (floats such as `5.0` are not integers).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    v.as_number().and_then(|n| n.as_i64())
}
