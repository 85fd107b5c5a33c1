//! JSON values with integers (`qdrant.Value`), payloads, point ids and
//! timestamps, both ways.

use std::collections::HashMap;

use grape_core::payload::Datetime;
use prost_types::Timestamp;
use serde_json::{Map, Number, Value as Json};

use crate::error::{ApiError, ApiResult};
use crate::grpc::proto::{self, point_id::PointIdOptions, value::Kind};

/// A caller mistake in a gRPC request (INVALID_ARGUMENT).
pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// A service result that does not have the shape its REST documentation
/// promises: Grape's own fault (INTERNAL).
pub(crate) fn unexpected(what: &str, got: &Json) -> ApiError {
    ApiError::internal(format!("unexpected {what} from the service: {got}"))
}

/// `map[key]`, with JSON `null` as absent.
pub(crate) fn field<'a>(map: &'a Map<String, Json>, key: &str) -> Option<&'a Json> {
    map.get(key).filter(|v| !v.is_null())
}

/// The JSON object `v`, or INTERNAL naming `what`.
pub(crate) fn as_object<'a>(v: &'a Json, what: &str) -> ApiResult<&'a Map<String, Json>> {
    v.as_object().ok_or_else(|| unexpected(what, v))
}

/// The JSON array `v`, or INTERNAL naming `what`.
pub(crate) fn as_array<'a>(v: &'a Json, what: &str) -> ApiResult<&'a Vec<Json>> {
    v.as_array().ok_or_else(|| unexpected(what, v))
}

/// A finite `f64` as a JSON number; NaN and infinities have no JSON form and
/// are the caller's mistake.
pub(crate) fn finite(x: f64, what: &str) -> ApiResult<Json> {
    Number::from_f64(x)
        .map(Json::Number)
        .ok_or_else(|| bad(format!("{what}: {x} is not a finite number")))
}

/// An `f32` as a JSON number with its shortest decimal spelling (`0.1`, not
/// `0.10000000149011612`), so that the service parses back the same `f32`.
pub(crate) fn f32_json(x: f32, what: &str) -> ApiResult<Json> {
    if !x.is_finite() {
        return Err(bad(format!("{what}: {x} is not a finite number")));
    }
    let shortest: f64 = format!("{x}").parse().unwrap_or(f64::from(x));
    finite(shortest, what)
}

/// A list of `f32` as JSON numbers (every component finite).
pub(crate) fn floats_json(xs: &[f32], what: &str) -> ApiResult<Json> {
    xs.iter()
        .map(|x| f32_json(*x, what))
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// A JSON number as `f32` (INTERNAL when it is not a number).
pub(crate) fn json_f32(v: &Json, what: &str) -> ApiResult<f32> {
    v.as_f64()
        .map(|x| x as f32)
        .ok_or_else(|| unexpected(what, v))
}

/// A JSON array of numbers as `f32`s.
pub(crate) fn json_floats(v: &Json, what: &str) -> ApiResult<Vec<f32>> {
    as_array(v, what)?
        .iter()
        .map(|x| json_f32(x, what))
        .collect()
}

/// `qdrant.Value` → JSON. A value without a kind, or a double that is NaN or
/// infinite, is INVALID_ARGUMENT.
pub fn value_to_json(v: proto::Value) -> ApiResult<Json> {
    Ok(match v.kind {
        None => return Err(bad("payload value without a kind")),
        Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::DoubleValue(x)) => finite(x, "payload value")?,
        Some(Kind::IntegerValue(n)) => Json::from(n),
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::StructValue(s)) => Json::Object(payload_to_json(s.fields)?),
        Some(Kind::ListValue(l)) => Json::Array(
            l.values
                .into_iter()
                .map(value_to_json)
                .collect::<ApiResult<_>>()?,
        ),
    })
}

/// A payload (`map<string, Value>`) → a JSON object.
pub fn payload_to_json(map: HashMap<String, proto::Value>) -> ApiResult<Map<String, Json>> {
    map.into_iter()
        .map(|(k, v)| value_to_json(v).map(|v| (k, v)))
        .collect()
}

/// JSON → `qdrant.Value`: integers that fit `i64` stay integers, other
/// numbers become doubles.
pub fn json_to_value(v: &Json) -> proto::Value {
    let kind = match v {
        Json::Null => Kind::NullValue(proto::NullValue::NullValue as i32),
        Json::Bool(b) => Kind::BoolValue(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Kind::IntegerValue(i),
            None => Kind::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Kind::StringValue(s.clone()),
        Json::Array(items) => Kind::ListValue(proto::ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        Json::Object(map) => Kind::StructValue(proto::Struct {
            fields: json_to_payload(map),
        }),
    };
    proto::Value { kind: Some(kind) }
}

/// A JSON object → a payload map.
pub fn json_to_payload(map: &Map<String, Json>) -> HashMap<String, proto::Value> {
    map.iter()
        .map(|(k, v)| (k.clone(), json_to_value(v)))
        .collect()
}

/// An optional JSON payload (`null` or absent: empty).
pub(crate) fn json_to_opt_payload(v: Option<&Json>) -> ApiResult<HashMap<String, proto::Value>> {
    match v {
        None | Some(Json::Null) => Ok(HashMap::new()),
        Some(Json::Object(map)) => Ok(json_to_payload(map)),
        Some(other) => Err(unexpected("payload", other)),
    }
}

/// `qdrant.PointId` → JSON (a number or a UUID string); an empty id is
/// INVALID_ARGUMENT.
pub fn point_id_to_json(id: proto::PointId) -> ApiResult<Json> {
    match id.point_id_options {
        Some(PointIdOptions::Num(n)) => Ok(Json::from(n)),
        Some(PointIdOptions::Uuid(s)) => Ok(Json::String(s)),
        None => Err(bad("point id without a value (expected num or uuid)")),
    }
}

/// An optional point id (a message field): absent is INVALID_ARGUMENT.
pub(crate) fn opt_point_id_to_json(id: Option<proto::PointId>, what: &str) -> ApiResult<Json> {
    point_id_to_json(id.ok_or_else(|| bad(format!("{what}: point id is required")))?)
}

/// A list of point ids → a JSON array.
pub(crate) fn point_ids_to_json(ids: Vec<proto::PointId>) -> ApiResult<Json> {
    ids.into_iter()
        .map(point_id_to_json)
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// JSON (a number or a string) → `qdrant.PointId`.
pub fn json_to_point_id(v: &Json) -> ApiResult<proto::PointId> {
    let options = match v {
        Json::Number(n) => {
            PointIdOptions::Num(n.as_u64().ok_or_else(|| unexpected("point id", v))?)
        }
        Json::String(s) => PointIdOptions::Uuid(s.clone()),
        other => return Err(unexpected("point id", other)),
    };
    Ok(proto::PointId {
        point_id_options: Some(options),
    })
}

/// A protobuf timestamp → an RFC 3339 string in UTC (microsecond precision,
/// as Grape compares datetimes).
pub fn timestamp_to_json(ts: Timestamp) -> ApiResult<Json> {
    let micros = ts
        .seconds
        .checked_mul(1_000_000)
        .and_then(|s| s.checked_add(i64::from(ts.nanos) / 1000))
        .filter(|_| (0..1_000_000_000).contains(&ts.nanos))
        .ok_or_else(|| bad(format!("timestamp out of range: {ts}")))?;
    Ok(Json::String(Datetime::from_micros(micros).to_string()))
}

/// An RFC 3339 string → a protobuf timestamp.
pub fn json_to_timestamp(v: &Json) -> ApiResult<Timestamp> {
    let micros = v
        .as_str()
        .and_then(Datetime::parse)
        .ok_or_else(|| unexpected("datetime", v))?
        .micros();
    Ok(Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_values_round_trip_keeping_integers_apart_from_doubles() {
        let payload = json!({
            "int": 5,
            "negative": -7,
            "double": 5.0,
            "fraction": 0.25,
            "text": "grape",
            "yes": true,
            "nothing": null,
            "list": [1, 2.5, "x", null, [true]],
            "nested": {"a": {"b": [1, {"c": "d"}]}, "empty": {}},
        });
        let map = payload.as_object().unwrap();
        let proto = json_to_payload(map);
        assert_eq!(proto["int"].kind, Some(Kind::IntegerValue(5)));
        assert_eq!(proto["double"].kind, Some(Kind::DoubleValue(5.0)));
        assert!(matches!(proto["nothing"].kind, Some(Kind::NullValue(_))));
        let back = Json::Object(payload_to_json(proto).unwrap());
        assert_eq!(back, payload);
        // 5 and 5.0 stay different after the trip (Qdrant's matching tells them apart).
        assert!(back["int"].is_i64());
        assert!(back["double"].is_f64());
    }

    #[test]
    fn non_finite_doubles_and_empty_values_are_invalid() {
        let nan = proto::Value {
            kind: Some(Kind::DoubleValue(f64::NAN)),
        };
        let err = value_to_json(nan).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::BadRequest);
        assert!(value_to_json(proto::Value { kind: None }).is_err());
        let nested = proto::Value {
            kind: Some(Kind::ListValue(proto::ListValue {
                values: vec![proto::Value {
                    kind: Some(Kind::DoubleValue(f64::INFINITY)),
                }],
            })),
        };
        assert!(value_to_json(nested).is_err());
    }

    #[test]
    fn point_ids_round_trip_as_numbers_and_uuids() {
        for v in [
            json!(0),
            json!(u64::MAX),
            json!("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"),
        ] {
            let id = json_to_point_id(&v).unwrap();
            assert_eq!(point_id_to_json(id).unwrap(), v);
        }
        let num = json_to_point_id(&json!(42)).unwrap();
        assert_eq!(num.point_id_options, Some(PointIdOptions::Num(42)));
        assert!(point_id_to_json(proto::PointId::default()).is_err());
        assert!(json_to_point_id(&json!(-1)).is_err());
    }

    #[test]
    fn timestamps_become_rfc3339_and_back() {
        let ts = Timestamp {
            seconds: 1_675_853_340,
            nanos: 500_000_000,
        };
        let s = timestamp_to_json(ts).unwrap();
        assert_eq!(s, json!("2023-02-08T10:49:00.500000Z"));
        assert_eq!(json_to_timestamp(&s).unwrap(), ts);
        let before_epoch = Timestamp {
            seconds: -1,
            nanos: 0,
        };
        let s = timestamp_to_json(before_epoch).unwrap();
        assert_eq!(s, json!("1969-12-31T23:59:59Z"));
        assert_eq!(json_to_timestamp(&s).unwrap(), before_epoch);
        assert!(
            timestamp_to_json(Timestamp {
                seconds: 0,
                nanos: -5
            })
            .is_err()
        );
    }

    #[test]
    fn f32_components_keep_their_shortest_spelling_and_reject_nan() {
        assert_eq!(f32_json(0.1, "v").unwrap(), json!(0.1));
        assert!(f32_json(f32::NAN, "v").is_err());
        assert!(floats_json(&[1.0, f32::INFINITY], "vector").is_err());
    }
}
