//! Payload field indexes over internal ids, and the bitsets they answer in.

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::filter::{
    DatetimeRange, FieldOp, Match, MatchValue, Range, ValueList, as_int, field_matches,
};
use super::{Datetime, KeyPath, Payload};

/// The type of a payload index, named as Qdrant's `field_schema`.
///
/// Values of another type at the indexed key are not indexed (as in
/// Qdrant); conditions stay exact because such points are checked one by
/// one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldSchema {
    /// Strings: `match` value / any / except / text, datetime ranges.
    Keyword,
    /// Integers: `match` value / any / except, `range`.
    Integer,
    /// Numbers (integers and floats): `range`.
    Float,
    /// Bools: `match`.
    Bool,
    /// Datetime strings: datetime `range`.
    Datetime,
}

/// A fixed-size set of internal ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub(crate) fn zeros(len: usize) -> Self {
        Bits {
            words: alloc::vec![0; len.div_ceil(64)],
        }
    }

    /// A set over `len` slots from its 64-bit words (extra words dropped,
    /// missing ones zero).
    pub(crate) fn from_words(mut words: Vec<u64>, len: usize) -> Self {
        words.resize(len.div_ceil(64), 0);
        Bits { words }
    }

    pub(crate) fn set(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut(i as usize / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub(crate) fn get(&self, i: u32) -> bool {
        self.words
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn and(&mut self, o: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&o.words) {
            *a &= b;
        }
    }

    pub(crate) fn or(&mut self, o: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&o.words) {
            *a |= b;
        }
    }

    pub(crate) fn and_not(&mut self, o: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&o.words) {
            *a &= !b;
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            core::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + b)
            })
        })
    }

    fn set_all(&mut self, ids: &[u32]) {
        for &i in ids {
            self.set(i);
        }
    }
}

/// `f64` ordered by `total_cmp`, with `-0.0` stored as `0.0` so that the
/// order agrees with `==` on every value JSON can hold.
#[derive(Debug, Clone, Copy)]
struct F64(f64);

impl F64 {
    fn new(x: f64) -> Self {
        F64(if x == 0.0 { 0.0 } else { x })
    }
}

impl PartialEq for F64 {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for F64 {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[derive(Debug, Clone)]
enum Data {
    /// Sorted postings per string.
    Keyword(HashMap<String, Vec<u32>>),
    Integer(BTreeSet<(i64, u32)>),
    Float(BTreeSet<(F64, u32)>),
    /// Sorted postings of `false` and `true`.
    Bool([Vec<u32>; 2]),
    /// Microseconds since the epoch.
    Datetime(BTreeSet<(i64, u32)>),
}

/// What one flattened value at the key is to an index.
enum Class<'a> {
    /// Null: no condition the index answers can hold for it.
    Skip,
    /// A value of another type: its point is checked one by one.
    Other,
    Str(&'a str),
    Int(i64),
    Float(F64),
    Bool(bool),
    Time(i64),
}

/// One payload index: the indexed values of every point with a value at
/// `path`, plus the points that also hold values the index cannot hold.
#[derive(Debug, Clone)]
pub(crate) struct FieldIndex {
    pub(crate) path: KeyPath,
    pub(crate) schema: FieldSchema,
    data: Data,
    /// Sorted ids of points with a non-null value of another type.
    others: Vec<u32>,
}

fn insert_sorted(v: &mut Vec<u32>, id: u32) {
    if let Err(pos) = v.binary_search(&id) {
        v.insert(pos, id);
    }
}

fn remove_sorted(v: &mut Vec<u32>, id: u32) {
    if let Ok(pos) = v.binary_search(&id) {
        v.remove(pos);
    }
}

impl FieldIndex {
    pub(crate) fn new(path: KeyPath, schema: FieldSchema) -> Self {
        let data = match schema {
            FieldSchema::Keyword => Data::Keyword(HashMap::new()),
            FieldSchema::Integer => Data::Integer(BTreeSet::new()),
            FieldSchema::Float => Data::Float(BTreeSet::new()),
            FieldSchema::Bool => Data::Bool([Vec::new(), Vec::new()]),
            FieldSchema::Datetime => Data::Datetime(BTreeSet::new()),
        };
        FieldIndex {
            path,
            schema,
            data,
            others: Vec::new(),
        }
    }

    fn classify<'a>(&self, v: &'a Value) -> Class<'a> {
        if v.is_null() {
            return Class::Skip;
        }
        let c = match self.schema {
            FieldSchema::Keyword => v.as_str().map(Class::Str),
            FieldSchema::Integer => as_int(v).map(Class::Int),
            FieldSchema::Float => v
                .as_number()
                .and_then(|n| n.as_f64())
                .map(|x| Class::Float(F64::new(x))),
            FieldSchema::Bool => v.as_bool().map(Class::Bool),
            FieldSchema::Datetime => v
                .as_str()
                .and_then(Datetime::parse)
                .map(|t| Class::Time(t.micros())),
        };
        c.unwrap_or(Class::Other)
    }

    /// Indexes the values of point `id`.
    pub(crate) fn add(&mut self, id: u32, payload: &Payload) {
        let mut other = false;
        for v in self.path.flat_values(payload) {
            match (self.classify(v), &mut self.data) {
                (Class::Skip, _) => {}
                (Class::Other, _) => other = true,
                (Class::Str(s), Data::Keyword(m)) => {
                    if let Some(p) = m.get_mut(s) {
                        insert_sorted(p, id);
                    } else {
                        m.insert(s.into(), alloc::vec![id]);
                    }
                }
                (Class::Int(n), Data::Integer(t)) | (Class::Time(n), Data::Datetime(t)) => {
                    t.insert((n, id));
                }
                (Class::Float(x), Data::Float(t)) => {
                    t.insert((x, id));
                }
                (Class::Bool(b), Data::Bool(p)) => insert_sorted(&mut p[usize::from(b)], id),
                _ => {}
            }
        }
        if other {
            insert_sorted(&mut self.others, id);
        }
    }

    /// Forgets point `id`, whose payload was `payload`.
    pub(crate) fn remove(&mut self, id: u32, payload: &Payload) {
        for v in self.path.flat_values(payload) {
            match (self.classify(v), &mut self.data) {
                (Class::Str(s), Data::Keyword(m)) => {
                    if let Some(p) = m.get_mut(s) {
                        remove_sorted(p, id);
                        if p.is_empty() {
                            m.remove(s);
                        }
                    }
                }
                (Class::Int(n), Data::Integer(t)) | (Class::Time(n), Data::Datetime(t)) => {
                    t.remove(&(n, id));
                }
                (Class::Float(x), Data::Float(t)) => {
                    t.remove(&(x, id));
                }
                (Class::Bool(b), Data::Bool(p)) => remove_sorted(&mut p[usize::from(b)], id),
                _ => {}
            }
        }
        remove_sorted(&mut self.others, id);
    }

    /// The exact set of points for which the condition `path op` holds,
    /// over `len` slots, or `None` when this index cannot answer `op`.
    /// `payload` gives the payload of a live point.
    pub(crate) fn answer<'p>(
        &self,
        op: &FieldOp,
        len: usize,
        payload: impl Fn(u32) -> Option<&'p Payload>,
    ) -> Option<Bits> {
        let mut bits = Bits::zeros(len);
        self.fill(op, &mut bits)?;
        for &id in &self.others {
            if !bits.get(id) && payload(id).is_some_and(|p| field_matches(&self.path, op, p)) {
                bits.set(id);
            }
        }
        Some(bits)
    }

    /// Sets the points whose indexed values satisfy `op`; `None` when the
    /// index lost what `op` needs (a float index cannot tell `5` from `5.0`,
    /// a datetime index keeps no strings).
    fn fill(&self, op: &FieldOp, bits: &mut Bits) -> Option<()> {
        let FieldOp::Match(m) = op else {
            match (&self.data, op) {
                (Data::Integer(t), FieldOp::Range(r)) => int_range(t, r, bits),
                (Data::Float(t), FieldOp::Range(r)) => float_range(t, r, bits),
                (Data::Datetime(t), FieldOp::DatetimeRange(r)) => time_range(t, r, bits),
                (Data::Keyword(map), FieldOp::DatetimeRange(r)) => {
                    for (k, p) in map {
                        if Datetime::parse(k).is_some_and(|t| r.contains(t)) {
                            bits.set_all(p);
                        }
                    }
                }
                (_, FieldOp::Range(_) | FieldOp::DatetimeRange(_)) => {}
                _ => return None,
            }
            return Some(());
        };
        match &self.data {
            Data::Keyword(map) => match m {
                Match::Value(MatchValue::Keyword(s)) => {
                    if let Some(p) = map.get(s) {
                        bits.set_all(p);
                    }
                }
                Match::Any(ValueList::Keywords(l)) => {
                    for s in l {
                        if let Some(p) = map.get(s) {
                            bits.set_all(p);
                        }
                    }
                }
                Match::Except(ValueList::Keywords(l)) => {
                    for (k, p) in map {
                        if !l.contains(k) {
                            bits.set_all(p);
                        }
                    }
                }
                Match::Except(ValueList::Integers(_)) => map.values().for_each(|p| bits.set_all(p)),
                Match::Text(t) | Match::Phrase(t) => {
                    for (k, p) in map {
                        if k.contains(t.as_str()) {
                            bits.set_all(p);
                        }
                    }
                }
                Match::Value(_) | Match::Any(ValueList::Integers(_)) => {}
            },
            Data::Integer(t) => match m {
                Match::Value(MatchValue::Integer(n)) => int_eq(t, *n, bits),
                Match::Any(ValueList::Integers(l)) => l.iter().for_each(|&n| int_eq(t, n, bits)),
                Match::Except(ValueList::Integers(l)) => {
                    let mut l = l.clone();
                    l.sort_unstable();
                    for &(v, id) in t {
                        if l.binary_search(&v).is_err() {
                            bits.set(id);
                        }
                    }
                }
                Match::Except(ValueList::Keywords(_)) => t.iter().for_each(|&(_, id)| bits.set(id)),
                Match::Value(_)
                | Match::Any(ValueList::Keywords(_))
                | Match::Text(_)
                | Match::Phrase(_) => {}
            },
            Data::Float(t) => match m {
                Match::Value(MatchValue::Integer(_))
                | Match::Any(ValueList::Integers(_))
                | Match::Except(ValueList::Integers(_)) => return None,
                Match::Except(ValueList::Keywords(_)) => t.iter().for_each(|&(_, id)| bits.set(id)),
                Match::Value(_) | Match::Any(_) | Match::Text(_) | Match::Phrase(_) => {}
            },
            Data::Bool(p) => match m {
                Match::Value(MatchValue::Bool(b)) => bits.set_all(&p[usize::from(*b)]),
                Match::Except(_) => p.iter().for_each(|p| bits.set_all(p)),
                Match::Value(_) | Match::Any(_) | Match::Text(_) | Match::Phrase(_) => {}
            },
            Data::Datetime(t) => match m {
                Match::Except(ValueList::Integers(_)) => t.iter().for_each(|&(_, id)| bits.set(id)),
                Match::Value(MatchValue::Integer(_) | MatchValue::Bool(_))
                | Match::Any(ValueList::Integers(_)) => {}
                _ => return None,
            },
        }
        Some(())
    }
}

fn int_eq(t: &BTreeSet<(i64, u32)>, n: i64, bits: &mut Bits) {
    for &(_, id) in t.range((n, 0)..=(n, u32::MAX)) {
        bits.set(id);
    }
}

/// The greatest lower and least upper bound of a range, inclusive or not
/// (`None`: unbounded); callers still test each value against the range.
fn span<T: PartialOrd + Copy>(
    gt: Option<T>,
    gte: Option<T>,
    lt: Option<T>,
    lte: Option<T>,
) -> (Option<T>, Option<T>) {
    let pick = |a: Option<T>, b: Option<T>, greater: bool| match (a, b) {
        (Some(x), Some(y)) => Some(if (x > y) == greater { x } else { y }),
        (x, y) => x.or(y),
    };
    (pick(gt, gte, true), pick(lt, lte, false))
}

fn int_range(t: &BTreeSet<(i64, u32)>, r: &Range, bits: &mut Bits) {
    // Integers compare as `x as f64`, which is monotonic but rounds above
    // 2^53; walk a margin wider than the rounding and test each value.
    const MARGIN: i64 = 4096;
    let (lo, hi) = span(r.gt, r.gte, r.lt, r.lte);
    let lo = lo.map_or(i64::MIN, |x| (x as i64).saturating_sub(MARGIN));
    let hi = hi.map_or(i64::MAX, |x| (x as i64).saturating_add(MARGIN));
    if lo > hi {
        return;
    }
    for &(v, id) in t.range((lo, 0)..=(hi, u32::MAX)) {
        if r.contains(v as f64) {
            bits.set(id);
        }
    }
}

fn float_range(t: &BTreeSet<(F64, u32)>, r: &Range, bits: &mut Bits) {
    let (lo, hi) = span(r.gt, r.gte, r.lt, r.lte);
    let lo = F64::new(lo.unwrap_or(f64::NEG_INFINITY));
    let hi = F64::new(hi.unwrap_or(f64::INFINITY));
    if lo > hi {
        return;
    }
    for &(v, id) in t.range((lo, 0)..=(hi, u32::MAX)) {
        if r.contains(v.0) {
            bits.set(id);
        }
    }
}

fn time_range(t: &BTreeSet<(i64, u32)>, r: &DatetimeRange, bits: &mut Bits) {
    let m = |d: Option<Datetime>| d.map(Datetime::micros);
    let (lo, hi) = span(m(r.gt), m(r.gte), m(r.lt), m(r.lte));
    let (lo, hi) = (lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX));
    if lo > hi {
        return;
    }
    for &(v, id) in t.range((lo, 0)..=(hi, u32::MAX)) {
        if r.contains(Datetime::from_micros(v)) {
            bits.set(id);
        }
    }
}
