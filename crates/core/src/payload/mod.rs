//! Payloads (a JSON object per point), Qdrant's filter grammar over them,
//! and payload indexes.
//!
//! A [`Filter`] parses from the JSON a Qdrant client sends
//! ([`Filter::from_json_str`], or serde) and is evaluated against one point
//! with [`Filter::matches`]. A [`PayloadStore`] keeps the payloads of a
//! collection by internal id with optional [`FieldSchema`] indexes; its
//! [`PayloadStore::matcher`] turns a filter into the search filter that the
//! vector indexes take, with the cardinality they plan with.
//!
//! ```
//! use grape_core::payload::{Filter, PayloadStore, PointId, FieldSchema};
//! use grape_core::Filter as _;
//! use serde_json::json;
//!
//! let mut store = PayloadStore::new();
//! let payload = |v: serde_json::Value| v.as_object().unwrap().clone();
//! store.set(0, PointId::Num(1), payload(json!({"city": "London", "price": 12})));
//! store.set(1, PointId::Num(2), payload(json!({"city": "Berlin", "price": 7.5})));
//! store.create_index("city", FieldSchema::Keyword).unwrap();
//!
//! let filter = Filter::from_json_str(
//!     r#"{"must": [{"key": "city", "match": {"value": "London"}}]}"#,
//! ).unwrap();
//! assert_eq!(store.matching(&filter), [0]);
//! let matcher = store.matcher(&filter);
//! assert!(matcher.allows(0) && !matcher.allows(1));
//! assert_eq!(matcher.cardinality(), Some(1));
//! ```

mod datetime;
mod filter;
mod id;
mod index;
mod json;
mod path;
mod store;
#[cfg(test)]
mod tests;

pub use datetime::Datetime;
pub use filter::{
    Condition, DatetimeRange, FieldCondition, FieldOp, Filter, IdSet, Match, MatchValue, MinShould,
    Nested, Range, ValueList, ValuesCount,
};
pub use id::PointId;
pub use index::FieldSchema;
pub use path::KeyPath;
pub(crate) use path::merge as merge_payload;
pub use store::{BuiltIndex, Matcher, PayloadStore};

/// A point's payload: a JSON object.
pub type Payload = serde_json::Map<alloc::string::String, serde_json::Value>;
