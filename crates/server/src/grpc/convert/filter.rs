//! Qdrant's filter grammar: `qdrant.Filter` ↔ the REST filter JSON that the
//! core parses.

use serde_json::{Map, Value as Json, json};

use super::common::{
    as_array, as_object, bad, field, finite, json_to_point_id, json_to_timestamp,
    point_ids_to_json, timestamp_to_json, unexpected,
};
use crate::error::ApiResult;
use crate::grpc::proto::{
    self, Condition, FieldCondition, Filter, condition::ConditionOneOf, r#match::MatchValue,
};

/// `qdrant.Filter` → REST JSON (empty clauses are left out).
pub fn filter_to_json(f: Filter) -> ApiResult<Json> {
    let mut out = Map::new();
    for (key, list) in [
        ("must", f.must),
        ("should", f.should),
        ("must_not", f.must_not),
    ] {
        if !list.is_empty() {
            out.insert(key.into(), conditions_to_json(list)?);
        }
    }
    if let Some(ms) = f.min_should {
        out.insert(
            "min_should".into(),
            json!({"conditions": conditions_to_json(ms.conditions)?, "min_count": ms.min_count}),
        );
    }
    Ok(Json::Object(out))
}

/// An optional filter field (`None` when absent).
pub(crate) fn opt_filter_to_json(f: Option<Filter>) -> ApiResult<Option<Json>> {
    f.map(filter_to_json).transpose()
}

fn conditions_to_json(list: Vec<Condition>) -> ApiResult<Json> {
    list.into_iter()
        .map(condition_to_json)
        .collect::<ApiResult<Vec<_>>>()
        .map(Json::Array)
}

/// One `qdrant.Condition` → REST JSON.
pub fn condition_to_json(c: Condition) -> ApiResult<Json> {
    Ok(match c.condition_one_of {
        None => return Err(bad("filter condition without a kind")),
        Some(ConditionOneOf::Field(f)) => field_condition_to_json(f)?,
        Some(ConditionOneOf::IsEmpty(c)) => json!({"is_empty": {"key": c.key}}),
        Some(ConditionOneOf::IsNull(c)) => json!({"is_null": {"key": c.key}}),
        Some(ConditionOneOf::HasId(c)) => json!({"has_id": point_ids_to_json(c.has_id)?}),
        Some(ConditionOneOf::Filter(f)) => filter_to_json(f)?,
        Some(ConditionOneOf::Nested(n)) => {
            let filter = n
                .filter
                .ok_or_else(|| bad(format!("nested condition on {:?} without a filter", n.key)))?;
            json!({"nested": {"key": n.key, "filter": filter_to_json(filter)?}})
        }
        Some(ConditionOneOf::HasVector(c)) => json!({"has_vector": c.has_vector}),
        Some(ConditionOneOf::Slice(_)) => {
            return Err(bad("slice conditions are not supported by grape"));
        }
    })
}

fn range_json<T: Into<Json>>(parts: [(&str, Option<T>); 4]) -> Json {
    Json::Object(
        parts
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.into())))
            .collect(),
    )
}

fn geo_point(p: Option<proto::GeoPoint>, what: &str) -> ApiResult<Json> {
    let p = p.ok_or_else(|| bad(format!("{what} is required")))?;
    Ok(json!({"lon": finite(p.lon, what)?, "lat": finite(p.lat, what)?}))
}

fn line_string(l: proto::GeoLineString) -> ApiResult<Json> {
    let points = l
        .points
        .into_iter()
        .map(|p| geo_point(Some(p), "geo_polygon point"))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json!({"points": points}))
}

fn field_condition_to_json(f: FieldCondition) -> ApiResult<Json> {
    let mut out = Map::new();
    out.insert("key".into(), Json::String(f.key));
    if let Some(m) = f.r#match {
        let (k, v) = match m.match_value {
            None => return Err(bad("match condition without a value")),
            Some(MatchValue::Keyword(s)) => ("value", Json::String(s)),
            Some(MatchValue::Integer(n)) => ("value", Json::from(n)),
            Some(MatchValue::Boolean(b)) => ("value", Json::Bool(b)),
            Some(MatchValue::Text(s)) => ("text", Json::String(s)),
            Some(MatchValue::Keywords(l)) => ("any", Json::from(l.strings)),
            Some(MatchValue::Integers(l)) => ("any", Json::from(l.integers)),
            Some(MatchValue::ExceptIntegers(l)) => ("except", Json::from(l.integers)),
            Some(MatchValue::ExceptKeywords(l)) => ("except", Json::from(l.strings)),
            Some(MatchValue::Phrase(s)) => ("phrase", Json::String(s)),
            Some(MatchValue::TextAny(s)) => ("text_any", Json::String(s)),
            Some(MatchValue::Prefix(s)) => ("prefix", Json::String(s)),
            Some(MatchValue::Substring(s)) => ("substring", Json::String(s)),
        };
        out.insert("match".into(), json!({ k: v }));
    }
    if let Some(r) = f.range {
        let parts = [("lt", r.lt), ("gt", r.gt), ("gte", r.gte), ("lte", r.lte)];
        let mut m = Map::new();
        for (k, v) in parts {
            if let Some(v) = v {
                m.insert(k.into(), finite(v, "range")?);
            }
        }
        out.insert("range".into(), Json::Object(m));
    }
    if let Some(r) = f.datetime_range {
        let mut m = Map::new();
        for (k, v) in [("lt", r.lt), ("gt", r.gt), ("gte", r.gte), ("lte", r.lte)] {
            if let Some(ts) = v {
                m.insert(k.into(), timestamp_to_json(ts)?);
            }
        }
        out.insert("datetime_range".into(), Json::Object(m));
    }
    if let Some(c) = f.values_count {
        out.insert(
            "values_count".into(),
            range_json([("lt", c.lt), ("gt", c.gt), ("gte", c.gte), ("lte", c.lte)]),
        );
    }
    if let Some(b) = f.geo_bounding_box {
        out.insert(
            "geo_bounding_box".into(),
            json!({
                "top_left": geo_point(b.top_left, "geo_bounding_box.top_left")?,
                "bottom_right": geo_point(b.bottom_right, "geo_bounding_box.bottom_right")?,
            }),
        );
    }
    if let Some(r) = f.geo_radius {
        out.insert(
            "geo_radius".into(),
            json!({
                "center": geo_point(r.center, "geo_radius.center")?,
                "radius": super::common::f32_json(r.radius, "geo_radius.radius")?,
            }),
        );
    }
    if let Some(p) = f.geo_polygon {
        let exterior = p
            .exterior
            .ok_or_else(|| bad("geo_polygon.exterior is required"))?;
        let interiors = p
            .interiors
            .into_iter()
            .map(line_string)
            .collect::<ApiResult<Vec<_>>>()?;
        out.insert(
            "geo_polygon".into(),
            json!({"exterior": line_string(exterior)?, "interiors": interiors}),
        );
    }
    if let Some(b) = f.is_empty {
        out.insert("is_empty".into(), Json::Bool(b));
    }
    if let Some(b) = f.is_null {
        out.insert("is_null".into(), Json::Bool(b));
    }
    if out.len() == 1 {
        return Err(bad(format!(
            "field condition on {:?} without a condition (match, range, ...)",
            out["key"]
        )));
    }
    Ok(Json::Object(out))
}

/// REST filter JSON → `qdrant.Filter` (the inverse of [`filter_to_json`]).
pub fn json_to_filter(v: &Json) -> ApiResult<Filter> {
    let map = as_object(v, "filter")?;
    let list = |key: &str| -> ApiResult<Vec<Condition>> {
        match field(map, key) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items.iter().map(json_to_condition).collect(),
            Some(one) => Ok(vec![json_to_condition(one)?]),
        }
    };
    let min_should = match field(map, "min_should") {
        None => None,
        Some(ms) => {
            let o = as_object(ms, "min_should")?;
            let conditions = as_array(o.get("conditions").unwrap_or(&Json::Null), "conditions")?
                .iter()
                .map(json_to_condition)
                .collect::<ApiResult<_>>()?;
            Some(proto::MinShould {
                conditions,
                min_count: o.get("min_count").and_then(Json::as_u64).unwrap_or(0),
            })
        }
    };
    Ok(Filter {
        must: list("must")?,
        should: list("should")?,
        must_not: list("must_not")?,
        min_should,
    })
}

fn key_of(v: &Json, what: &str) -> ApiResult<String> {
    as_object(v, what)?
        .get("key")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| unexpected(what, v))
}

fn condition(c: ConditionOneOf) -> Condition {
    Condition {
        condition_one_of: Some(c),
    }
}

/// One REST condition → `qdrant.Condition`.
pub fn json_to_condition(v: &Json) -> ApiResult<Condition> {
    let map = as_object(v, "condition")?;
    if map.contains_key("key") {
        return json_to_field_condition(map).map(|f| condition(ConditionOneOf::Field(f)));
    }
    if let Some(c) = map.get("is_empty") {
        return Ok(condition(ConditionOneOf::IsEmpty(
            proto::IsEmptyCondition {
                key: key_of(c, "is_empty")?,
            },
        )));
    }
    if let Some(c) = map.get("is_null") {
        return Ok(condition(ConditionOneOf::IsNull(proto::IsNullCondition {
            key: key_of(c, "is_null")?,
        })));
    }
    if let Some(ids) = map.get("has_id") {
        let has_id = as_array(ids, "has_id")?
            .iter()
            .map(json_to_point_id)
            .collect::<ApiResult<_>>()?;
        return Ok(condition(ConditionOneOf::HasId(proto::HasIdCondition {
            has_id,
        })));
    }
    if let Some(name) = map.get("has_vector") {
        let has_vector = name
            .as_str()
            .ok_or_else(|| unexpected("has_vector", name))?
            .to_string();
        return Ok(condition(ConditionOneOf::HasVector(
            proto::HasVectorCondition { has_vector },
        )));
    }
    if let Some(n) = map.get("nested") {
        let o = as_object(n, "nested")?;
        return Ok(condition(ConditionOneOf::Nested(proto::NestedCondition {
            key: key_of(n, "nested")?,
            filter: Some(json_to_filter(o.get("filter").unwrap_or(&Json::Null))?),
        })));
    }
    json_to_filter(v).map(|f| condition(ConditionOneOf::Filter(f)))
}

fn f64_bound(map: &Map<String, Json>, key: &str) -> Option<f64> {
    map.get(key).and_then(Json::as_f64)
}

fn geo(v: Option<&Json>) -> ApiResult<Option<proto::GeoPoint>> {
    let Some(v) = v else { return Ok(None) };
    let o = as_object(v, "geo point")?;
    Ok(Some(proto::GeoPoint {
        lon: f64_bound(o, "lon").ok_or_else(|| unexpected("geo point", v))?,
        lat: f64_bound(o, "lat").ok_or_else(|| unexpected("geo point", v))?,
    }))
}

fn json_line_string(v: &Json) -> ApiResult<proto::GeoLineString> {
    let points = as_array(
        as_object(v, "line string")?
            .get("points")
            .unwrap_or(&Json::Null),
        "points",
    )?
    .iter()
    .map(|p| geo(Some(p)).map(Option::unwrap_or_default))
    .collect::<ApiResult<_>>()?;
    Ok(proto::GeoLineString { points })
}

fn json_to_field_condition(map: &Map<String, Json>) -> ApiResult<FieldCondition> {
    let mut f = FieldCondition {
        key: map
            .get("key")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        ..FieldCondition::default()
    };
    if let Some(m) = field(map, "match") {
        let o = as_object(m, "match")?;
        let (k, v) = o.iter().next().ok_or_else(|| unexpected("match", m))?;
        let strings = |v: &Json| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let integers =
            |v: &Json| -> Option<Vec<i64>> { v.as_array()?.iter().map(Json::as_i64).collect() };
        let value = match (k.as_str(), v) {
            ("value", Json::String(s)) => MatchValue::Keyword(s.clone()),
            ("value", Json::Bool(b)) => MatchValue::Boolean(*b),
            ("value", Json::Number(n)) if n.is_i64() => {
                MatchValue::Integer(n.as_i64().unwrap_or_default())
            }
            ("text", Json::String(s)) => MatchValue::Text(s.clone()),
            ("phrase", Json::String(s)) => MatchValue::Phrase(s.clone()),
            ("text_any", Json::String(s)) => MatchValue::TextAny(s.clone()),
            ("prefix", Json::String(s)) => MatchValue::Prefix(s.clone()),
            ("substring", Json::String(s)) => MatchValue::Substring(s.clone()),
            ("any" | "except", list) => {
                let except = k == "except";
                match (strings(list), integers(list)) {
                    // An empty list is read as strings.
                    (Some(strings), _) if except => {
                        MatchValue::ExceptKeywords(proto::RepeatedStrings { strings })
                    }
                    (Some(strings), _) => MatchValue::Keywords(proto::RepeatedStrings { strings }),
                    (None, Some(integers)) if except => {
                        MatchValue::ExceptIntegers(proto::RepeatedIntegers { integers })
                    }
                    (None, Some(integers)) => {
                        MatchValue::Integers(proto::RepeatedIntegers { integers })
                    }
                    _ => return Err(unexpected("match", m)),
                }
            }
            _ => return Err(unexpected("match", m)),
        };
        f.r#match = Some(proto::Match {
            match_value: Some(value),
        });
    }
    if let Some(r) = field(map, "range") {
        let o = as_object(r, "range")?;
        f.range = Some(proto::Range {
            lt: f64_bound(o, "lt"),
            gt: f64_bound(o, "gt"),
            gte: f64_bound(o, "gte"),
            lte: f64_bound(o, "lte"),
        });
    }
    if let Some(r) = field(map, "datetime_range") {
        let o = as_object(r, "datetime_range")?;
        let ts = |k: &str| o.get(k).map(json_to_timestamp).transpose();
        f.datetime_range = Some(proto::DatetimeRange {
            lt: ts("lt")?,
            gt: ts("gt")?,
            gte: ts("gte")?,
            lte: ts("lte")?,
        });
    }
    if let Some(c) = field(map, "values_count") {
        let o = as_object(c, "values_count")?;
        let n = |k: &str| o.get(k).and_then(Json::as_u64);
        f.values_count = Some(proto::ValuesCount {
            lt: n("lt"),
            gt: n("gt"),
            gte: n("gte"),
            lte: n("lte"),
        });
    }
    if let Some(b) = field(map, "geo_bounding_box") {
        let o = as_object(b, "geo_bounding_box")?;
        f.geo_bounding_box = Some(proto::GeoBoundingBox {
            top_left: geo(o.get("top_left"))?,
            bottom_right: geo(o.get("bottom_right"))?,
        });
    }
    if let Some(r) = field(map, "geo_radius") {
        let o = as_object(r, "geo_radius")?;
        f.geo_radius = Some(proto::GeoRadius {
            center: geo(o.get("center"))?,
            radius: f64_bound(o, "radius").unwrap_or_default() as f32,
        });
    }
    if let Some(p) = field(map, "geo_polygon") {
        let o = as_object(p, "geo_polygon")?;
        let interiors = match field(o, "interiors") {
            None => Vec::new(),
            Some(list) => as_array(list, "interiors")?
                .iter()
                .map(json_line_string)
                .collect::<ApiResult<_>>()?,
        };
        f.geo_polygon = Some(proto::GeoPolygon {
            exterior: Some(json_line_string(o.get("exterior").unwrap_or(&Json::Null))?),
            interiors,
        });
    }
    f.is_empty = field(map, "is_empty").and_then(Json::as_bool);
    f.is_null = field(map, "is_null").and_then(Json::as_bool);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::{
        DatetimeRange, GeoBoundingBox, GeoLineString, GeoPoint, GeoPolygon, GeoRadius,
        HasIdCondition, HasVectorCondition, IsEmptyCondition, IsNullCondition, Match, MinShould,
        NestedCondition, PointId, Range, RepeatedIntegers, RepeatedStrings, ValuesCount,
        point_id::PointIdOptions,
    };
    use prost_types::Timestamp;

    fn field_cond(key: &str, f: impl FnOnce(&mut FieldCondition)) -> Condition {
        let mut c = FieldCondition {
            key: key.into(),
            ..FieldCondition::default()
        };
        f(&mut c);
        condition(ConditionOneOf::Field(c))
    }

    fn matching(key: &str, v: MatchValue) -> Condition {
        field_cond(key, |c| {
            c.r#match = Some(Match {
                match_value: Some(v),
            })
        })
    }

    /// Every condition kind Grape forwards, in one filter.
    fn every_condition() -> Filter {
        let strings = |s: &[&str]| RepeatedStrings {
            strings: s.iter().map(|s| s.to_string()).collect(),
        };
        let point = |lon, lat| GeoPoint { lon, lat };
        Filter {
            must: vec![
                matching("city", MatchValue::Keyword("Paris".into())),
                matching("count", MatchValue::Integer(-3)),
                matching("ok", MatchValue::Boolean(true)),
                matching("body", MatchValue::Text("grape seed".into())),
                matching("tags", MatchValue::Keywords(strings(&["a", "b"]))),
                matching(
                    "n",
                    MatchValue::Integers(RepeatedIntegers {
                        integers: vec![1, 2],
                    }),
                ),
                matching(
                    "m",
                    MatchValue::ExceptIntegers(RepeatedIntegers { integers: vec![3] }),
                ),
                matching("t", MatchValue::ExceptKeywords(strings(&["x"]))),
                matching("p", MatchValue::Phrase("two words".into())),
                matching("q", MatchValue::TextAny("any of these".into())),
                field_cond("price", |c| {
                    c.range = Some(Range {
                        gt: Some(1.5),
                        lte: Some(10.0),
                        ..Range::default()
                    })
                }),
                field_cond("when", |c| {
                    c.datetime_range = Some(DatetimeRange {
                        gte: Some(Timestamp {
                            seconds: 1_675_853_340,
                            nanos: 0,
                        }),
                        ..DatetimeRange::default()
                    })
                }),
                field_cond("labels", |c| {
                    c.values_count = Some(ValuesCount {
                        gte: Some(2),
                        lt: Some(5),
                        ..ValuesCount::default()
                    })
                }),
                field_cond("maybe", |c| c.is_empty = Some(false)),
                field_cond("gone", |c| c.is_null = Some(true)),
            ],
            should: vec![
                condition(ConditionOneOf::IsEmpty(IsEmptyCondition {
                    key: "e".into(),
                })),
                condition(ConditionOneOf::IsNull(IsNullCondition { key: "z".into() })),
                condition(ConditionOneOf::HasId(HasIdCondition {
                    has_id: vec![
                        PointId {
                            point_id_options: Some(PointIdOptions::Num(7)),
                        },
                        PointId {
                            point_id_options: Some(PointIdOptions::Uuid(
                                "5c56c793-69f3-4fbf-87e6-c4bf54c28c26".into(),
                            )),
                        },
                    ],
                })),
                condition(ConditionOneOf::HasVector(HasVectorCondition {
                    has_vector: "image".into(),
                })),
            ],
            must_not: vec![
                condition(ConditionOneOf::Nested(NestedCondition {
                    key: "country.cities".into(),
                    filter: Some(Filter {
                        must: vec![matching("name", MatchValue::Keyword("Lyon".into()))],
                        ..Filter::default()
                    }),
                })),
                condition(ConditionOneOf::Filter(Filter {
                    should: vec![matching("k", MatchValue::Integer(1))],
                    ..Filter::default()
                })),
                field_cond("loc", |c| {
                    c.geo_bounding_box = Some(GeoBoundingBox {
                        top_left: Some(point(2.0, 49.0)),
                        bottom_right: Some(point(3.0, 48.0)),
                    })
                }),
                field_cond("loc", |c| {
                    c.geo_radius = Some(GeoRadius {
                        center: Some(point(2.35, 48.85)),
                        radius: 1000.0,
                    })
                }),
                field_cond("loc", |c| {
                    c.geo_polygon = Some(GeoPolygon {
                        exterior: Some(GeoLineString {
                            points: vec![point(0.0, 0.0), point(1.0, 0.0), point(0.0, 1.0)],
                        }),
                        interiors: vec![],
                    })
                }),
            ],
            min_should: Some(MinShould {
                conditions: vec![
                    matching("a", MatchValue::Keyword("x".into())),
                    matching("b", MatchValue::Keyword("y".into())),
                ],
                min_count: 1,
            }),
        }
    }

    #[test]
    fn every_condition_kind_round_trips_through_rest_json() {
        let filter = every_condition();
        let json = filter_to_json(filter.clone()).unwrap();
        assert_eq!(json_to_filter(&json).unwrap(), filter);
    }

    #[test]
    fn conditions_have_qdrants_rest_shapes() {
        let json = filter_to_json(every_condition()).unwrap();
        assert_eq!(
            json["must"][0],
            json!({"key": "city", "match": {"value": "Paris"}})
        );
        assert_eq!(json["must"][1]["match"], json!({"value": -3}));
        assert_eq!(json["must"][4]["match"], json!({"any": ["a", "b"]}));
        assert_eq!(json["must"][6]["match"], json!({"except": [3]}));
        assert_eq!(json["must"][10]["range"], json!({"gt": 1.5, "lte": 10.0}));
        assert_eq!(
            json["must"][11]["datetime_range"],
            json!({"gte": "2023-02-08T10:49:00Z"})
        );
        assert_eq!(json["must"][13], json!({"key": "maybe", "is_empty": false}));
        assert_eq!(json["should"][0], json!({"is_empty": {"key": "e"}}));
        assert_eq!(
            json["should"][2],
            json!({"has_id": [7, "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"]})
        );
        assert_eq!(
            json["must_not"][0]["nested"]["key"],
            json!("country.cities")
        );
        assert_eq!(json["min_should"]["min_count"], json!(1));
        // The core parses every shape produced here for the conditions it
        // supports (all but text_any, has_vector and the geo ones).
        let mut must = json["must"].as_array().unwrap().clone();
        must.remove(9);
        let mut should = json["should"].as_array().unwrap().clone();
        should.pop();
        let supported = json!({
            "must": must,
            "should": should,
            "must_not": [json["must_not"][0], json["must_not"][1]],
            "min_should": json["min_should"],
        });
        grape_core::payload::Filter::from_value(&supported).unwrap();
    }

    #[test]
    fn empty_or_unsupported_conditions_are_invalid_arguments() {
        let empty = Filter {
            must: vec![Condition {
                condition_one_of: None,
            }],
            ..Filter::default()
        };
        assert!(filter_to_json(empty).is_err());
        let no_op = Filter {
            must: vec![field_cond("x", |_| {})],
            ..Filter::default()
        };
        let err = filter_to_json(no_op).unwrap_err();
        assert!(err.message().contains("without a condition"), "{err}");
        let slice = Filter {
            must: vec![condition(ConditionOneOf::Slice(proto::SliceCondition {
                total: 2,
                index: 0,
            }))],
            ..Filter::default()
        };
        assert!(filter_to_json(slice).is_err());
        let nan = Filter {
            must: vec![field_cond("x", |c| {
                c.range = Some(Range {
                    lt: Some(f64::NAN),
                    ..Range::default()
                })
            })],
            ..Filter::default()
        };
        assert!(filter_to_json(nan).is_err());
    }
}
