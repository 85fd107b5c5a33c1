//! Filter semantics from Qdrant's documentation, the JSON clients send,
//! malformed filters, and index-backed evaluation against plain matching.

use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use serde_json::{Value, json};

use super::*;
use crate::Filter as SearchFilter;
use crate::Rng;

fn obj(v: Value) -> Payload {
    match v {
        Value::Object(m) => m,
        other => panic!("payload must be an object, got {other}"),
    }
}

/// Checks every case with plain matching, then again through a store
/// indexed as `indexes` (matching, count, matcher).
fn check_table(docs: &[(u64, Value)], indexes: &[(&str, FieldSchema)], cases: &[(Value, &[u64])]) {
    let mut store = PayloadStore::new();
    for (i, (id, p)) in docs.iter().enumerate() {
        store.set(i as u32, PointId::Num(*id), obj(p.clone()));
    }
    for (k, s) in indexes {
        store.create_index(k, *s).unwrap();
    }
    for (filter, want) in cases {
        let f = Filter::from_value(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let got: Vec<u64> = docs
            .iter()
            .filter(|(id, p)| f.matches(&PointId::Num(*id), &obj(p.clone())))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(got, *want, "plain matching of {filter}");
        let via_store: Vec<u64> = store
            .matching(&f)
            .into_iter()
            .map(|i| docs[i as usize].0)
            .collect();
        assert_eq!(via_store, *want, "indexed matching of {filter}");
        assert_eq!(store.count(&f), want.len(), "count of {filter}");
        let m = store.matcher(&f);
        let allowed: Vec<u64> = (0..docs.len() as u32 + 2)
            .filter(|&i| m.allows(i))
            .map(|i| docs[i as usize].0)
            .collect();
        assert_eq!(allowed, *want, "matcher of {filter}");
        if m.is_exact() {
            assert_eq!(m.cardinality(), Some(want.len()), "cardinality of {filter}");
        }
    }
}

fn field(key: &str, op: &str, v: Value) -> Value {
    json!({ "key": key, op: v })
}

fn must(c: Value) -> Value {
    json!({ "must": [c] })
}

#[test]
fn clauses_behave_as_the_qdrant_documentation_shows() {
    let docs = [
        (1, json!({"city": "London", "color": "green"})),
        (2, json!({"city": "London", "color": "red"})),
        (3, json!({"city": "London", "color": "blue"})),
        (4, json!({"city": "Berlin", "color": "red"})),
        (5, json!({"city": "Moscow", "color": "green"})),
        (6, json!({"city": "Moscow", "color": "blue"})),
    ];
    let london = json!({"key": "city", "match": {"value": "London"}});
    let red = json!({"key": "color", "match": {"value": "red"}});
    let green = json!({"key": "color", "match": {"value": "green"}});
    let cases: Vec<(Value, &[u64])> = vec![
        (json!({"must": [london, red]}), &[2]),
        (json!({"should": [london, red]}), &[1, 2, 3, 4]),
        (json!({"must_not": [london, red]}), &[5, 6]),
        (json!({"must": [london], "must_not": [red]}), &[1, 3]),
        (
            json!({"must_not": [{"must": [london, red]}]}),
            &[1, 3, 4, 5, 6],
        ),
        (
            json!({"must": [{"has_id": [1, 3, 5, 7, 9, 11]}]}),
            &[1, 3, 5],
        ),
        // min_should: at least two of London, red, green.
        (
            json!({"min_should": {"conditions": [london, red, green], "min_count": 2}}),
            &[1, 2],
        ),
        (
            json!({"min_should": {"conditions": [london, red, green], "min_count": 0}}),
            &[1, 2, 3, 4, 5, 6],
        ),
        (
            json!({"min_should": {"conditions": [london, red, green], "min_count": 4}}),
            &[],
        ),
        (
            json!({"min_should": {"conditions": [], "min_count": 1}}),
            &[],
        ),
        // A given but empty `should` matches nothing (Qdrant #554); an
        // empty filter matches everything.
        (json!({"should": []}), &[]),
        (json!({}), &[1, 2, 3, 4, 5, 6]),
        (json!({"must": []}), &[1, 2, 3, 4, 5, 6]),
        // One condition object instead of an array.
        (json!({"must": london, "must_not": red}), &[1, 3]),
        (
            json!({"must": [{"key": "city", "match": {"any": ["Berlin", "Moscow"]}}]}),
            &[4, 5, 6],
        ),
        (
            json!({"must": [{"key": "color", "match": {"except": ["red", "blue"]}}]}),
            &[1, 5],
        ),
        (
            json!({"must": [{"key": "city", "match": {"text": "o"}}]}),
            &[1, 2, 3, 5, 6],
        ),
        (
            json!({"must": [{"key": "city", "match": {"text": "lon"}}]}),
            &[],
        ),
    ];
    check_table(&docs, &[], &cases);
    check_table(
        &docs,
        &[
            ("city", FieldSchema::Keyword),
            ("color", FieldSchema::Keyword),
        ],
        &cases,
    );
}

#[test]
fn missing_null_empty_and_mixed_types_follow_qdrant() {
    let docs = [
        (1, json!({"a": 5})),
        (2, json!({"a": 5.0})),
        (3, json!({"a": "5"})),
        (4, json!({"a": true})),
        (5, json!({"a": 1})),
        (6, json!({"a": null})),
        (7, json!({"a": []})),
        (8, json!({})),
        (9, json!({"a": [5, "x"]})),
        (10, json!({"a": [null]})),
        (11, json!({"a": 0})),
        (12, json!({"a": {"b": 1}})),
        (13, json!({"a": [[5]]})),
        (14, json!({"a": false})),
    ];
    let a = |op: &str, v: Value| must(field("a", op, v));
    let cases: Vec<(Value, &[u64])> = vec![
        // An integer matches integers only: not 5.0, not "5", not [[5]].
        (a("match", json!({"value": 5})), &[1, 9]),
        (a("match", json!({"value": "5"})), &[3]),
        // Bools never equal 0/1 and the other way round.
        (a("match", json!({"value": true})), &[4]),
        (a("match", json!({"value": 1})), &[5]),
        (a("match", json!({"value": false})), &[14]),
        (a("match", json!({"value": 0})), &[11]),
        (a("match", json!({"any": [5, 1]})), &[1, 5, 9]),
        (a("match", json!({"any": ["5", "x"]})), &[3, 9]),
        (a("match", json!({"any": []})), &[]),
        // except: a value outside the list, of any type but null; a missing
        // key, null, [] and [null] never match.
        (
            a("match", json!({"except": [5]})),
            &[2, 3, 4, 5, 9, 11, 12, 13, 14],
        ),
        (
            a("match", json!({"except": ["5"]})),
            &[1, 2, 4, 5, 9, 11, 12, 13, 14],
        ),
        (
            a("match", json!({"except": []})),
            &[1, 2, 3, 4, 5, 9, 11, 12, 13, 14],
        ),
        (a("match", json!({"text": "5"})), &[3]),
        // Ranges take integers and floats alike, never strings or bools.
        (a("range", json!({"gte": 5, "lte": 5})), &[1, 2, 9]),
        (a("range", json!({"gt": 0.5})), &[1, 2, 5, 9]),
        (a("range", json!({"lt": 1})), &[11]),
        (a("range", json!({})), &[1, 2, 5, 9, 11]),
        (json!({"must": [{"is_empty": {"key": "a"}}]}), &[6, 7, 8]),
        (json!({"must": [{"is_null": {"key": "a"}}]}), &[6]),
        (
            json!({"must_not": [{"is_empty": {"key": "a"}}]}),
            &[1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14],
        ),
        (a("is_empty", json!(true)), &[6, 7, 8]),
        (
            a("is_null", json!(false)),
            &[1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14],
        ),
        // values_count: a missing key and null count 0, an array its
        // elements, anything else 1.
        (a("values_count", json!({"lt": 1})), &[6, 7, 8]),
        (a("values_count", json!({"gte": 2})), &[9]),
        (
            a("values_count", json!({"gt": 0, "lte": 1})),
            &[1, 2, 3, 4, 5, 10, 11, 12, 13, 14],
        ),
        // must_not on a value: points without the key pass.
        (
            json!({"must_not": [field("a", "match", json!({"value": 5}))]}),
            &[2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14],
        ),
        (
            json!({"must_not": [field("zzz", "match", json!({"value": 5}))]}),
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        ),
        (must(field("zzz", "match", json!({"except": [5]}))), &[]),
    ];
    check_table(&docs, &[], &cases);
    for schema in [
        FieldSchema::Keyword,
        FieldSchema::Integer,
        FieldSchema::Float,
        FieldSchema::Bool,
        FieldSchema::Datetime,
    ] {
        check_table(&docs, &[("a", schema)], &cases);
    }
}

#[test]
fn nested_matches_within_one_element_and_plain_paths_across_elements() {
    let docs = [
        (
            1,
            json!({"dinosaur": "t-rex", "diet": [
                {"food": "leaves", "likes": false},
                {"food": "meat", "likes": true}]}),
        ),
        (
            2,
            json!({"dinosaur": "diplodocus", "diet": [
                {"food": "leaves", "likes": true},
                {"food": "meat", "likes": false}]}),
        ),
        (
            3,
            json!({"dinosaur": "x", "diet": {"food": "meat", "likes": true}}),
        ),
        (4, json!({"dinosaur": "y", "diet": []})),
    ];
    let meat = json!({"key": "food", "match": {"value": "meat"}});
    let likes = json!({"key": "likes", "match": {"value": true}});
    let cases: Vec<(Value, &[u64])> = vec![
        // The documentation's example: across elements both match...
        (
            json!({"must": [
                {"key": "diet[].food", "match": {"value": "meat"}},
                {"key": "diet[].likes", "match": {"value": true}}]}),
            &[1, 2],
        ),
        // ...within one element only the t-rex does.
        (
            json!({"must": [{"nested": {"key": "diet", "filter": {"must": [meat, likes]}}}]}),
            &[1],
        ),
        (
            json!({"must": [{"nested": {"key": "diet[]", "filter": {"must": [meat, likes]}}}]}),
            &[1],
        ),
        (
            json!({"must": [{"nested": {"key": "diet", "filter": {"must_not": [likes]}}}]}),
            &[1, 2],
        ),
        (
            json!({"must_not": [{"nested": {"key": "diet", "filter": {"must": [meat]}}}]}),
            &[3, 4],
        ),
        // A plain key does not descend into arrays (Qdrant's own test).
        (
            must(field("diet.food", "match", json!({"value": "meat"}))),
            &[3],
        ),
        (
            json!({"must": [{"is_empty": {"key": "diet[].food"}}]}),
            &[3, 4],
        ),
        (
            must(field("diet[].food", "values_count", json!({"gte": 2}))),
            &[],
        ),
        (
            must(field("diet", "values_count", json!({"gte": 2}))),
            &[1, 2],
        ),
    ];
    check_table(&docs, &[], &cases);
    check_table(
        &docs,
        &[
            ("diet[].food", FieldSchema::Keyword),
            ("diet[].likes", FieldSchema::Bool),
        ],
        &cases,
    );

    let countries = [
        (
            1,
            json!({"country": {"name": "Germany", "cities": [
                {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
                {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympiapark"]}]}}),
        ),
        (
            2,
            json!({"country": {"name": "Japan", "cities": [
                {"name": "Tokyo", "population": 9.3, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]},
                {"name": "Osaka", "population": 2.7, "sightseeing": ["Osaka Castle", "Universal Studios Japan"]}]}}),
        ),
    ];
    let cases: Vec<(Value, &[u64])> = vec![
        (
            json!({"should": [field("country.name", "match", json!({"value": "Germany"}))]}),
            &[1],
        ),
        (
            json!({"should": [field("country.cities[].population", "range", json!({"gte": 9.0}))]}),
            &[2],
        ),
        (
            json!({"should": [field("country.cities[].sightseeing", "match", json!({"value": "Osaka Castle"}))]}),
            &[2],
        ),
        (
            json!({"should": [field("country.cities.population", "range", json!({"gte": 9.0}))]}),
            &[],
        ),
        (
            json!({"should": [field("country.cities[0].name", "match", json!({"value": "Tokyo"}))]}),
            &[2],
        ),
    ];
    check_table(&countries, &[], &cases);
    check_table(
        &countries,
        &[
            ("country.cities[].population", FieldSchema::Float),
            ("country.cities[].sightseeing", FieldSchema::Keyword),
        ],
        &cases,
    );
}

#[test]
fn datetimes_compare_as_utc_instants_across_zones() {
    let docs = [
        (1, json!({"t": "2023-02-08T10:49:00Z"})),
        (2, json!({"t": "2023-02-08T12:49:00+02:00"})),
        (3, json!({"t": "2023-02-08T10:49:00+02:00"})),
        (4, json!({"t": "2023-02-08 10:49:01"})),
        (5, json!({"t": "2023-02-09"})),
        (6, json!({"t": "not a date"})),
        (7, json!({"t": 1_675_853_340})),
        (
            8,
            json!({"t": ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00-05:00"]}),
        ),
        (9, json!({})),
    ];
    let t = |v: Value| must(field("t", "range", v));
    let cases: Vec<(Value, &[u64])> = vec![
        // 12:49+02:00 is 10:49Z.
        (
            t(json!({"gte": "2023-02-08T10:49:00Z", "lte": "2023-02-08T10:49:00Z"})),
            &[1, 2],
        ),
        (t(json!({"gt": "2023-02-08T10:49:00Z"})), &[4, 5, 8]),
        // 10:00+01:00 is 09:00Z: 08:49Z (doc 3) and 2023-01-01 are before.
        (t(json!({"lt": "2023-02-08T10:00:00+01:00"})), &[3, 8]),
        (
            must(field(
                "t",
                "datetime_range",
                json!({"gte": "2023-02-08", "lt": "2023-02-09"}),
            )),
            &[1, 2, 3, 4],
        ),
        // 2024-01-01T00:00-05:00 is 05:00Z.
        (t(json!({"gte": "2024-01-01T05:00:00Z"})), &[8]),
        (t(json!({"gt": "2024-01-01T05:00:00Z"})), &[]),
        (
            t(json!({"gte": "2023-02-08T10:49:01z", "lte": "2023-02-08t10:49:01"})),
            &[4],
        ),
        (
            json!({"must_not": [field("t", "range", json!({"gte": "2000-01-01"}))]}),
            &[6, 7, 9],
        ),
        // A numeric range never matches datetime strings.
        (t(json!({"gte": 0})), &[7]),
    ];
    check_table(&docs, &[], &cases);
    check_table(&docs, &[("t", FieldSchema::Datetime)], &cases);
    check_table(&docs, &[("t", FieldSchema::Keyword)], &cases);
}

#[test]
fn has_id_accepts_every_uuid_spelling() {
    let u1 = "550e8400-e29b-41d4-a716-446655440000";
    let u2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
    let ids = [
        PointId::Num(1),
        PointId::Num(2),
        PointId::parse_uuid(u1).unwrap(),
        PointId::parse_uuid(u2).unwrap(),
    ];
    let mut store = PayloadStore::new();
    for (i, id) in ids.iter().enumerate() {
        store.set(i as u32, *id, Payload::new());
    }
    let cases: Vec<(Value, Vec<usize>)> = vec![
        (
            json!({"must": [{"has_id": ["550E8400E29B41D4A716446655440000"]}]}),
            vec![2],
        ),
        (
            json!({"must": [{"has_id": [1, format!("{{{u2}}}")]}]}),
            vec![0, 3],
        ),
        (
            json!({"must": [{"has_id": [format!("urn:uuid:{u1}"), u2, 99]}]}),
            vec![2, 3],
        ),
        (json!({"must_not": [{"has_id": [2]}]}), vec![0, 2, 3]),
        (
            json!({"should": [{"has_id": [2]}, {"has_id": [u1.to_uppercase()]}]}),
            vec![1, 2],
        ),
    ];
    for (filter, want) in cases {
        let f = Filter::from_value(&filter).unwrap();
        let plain: Vec<usize> = (0..ids.len())
            .filter(|&i| f.matches(&ids[i], &Payload::new()))
            .collect();
        assert_eq!(plain, want, "{filter}");
        let m = store.matcher(&f);
        assert!(m.is_exact());
        assert_eq!(m.cardinality(), Some(want.len()));
        let indexed: Vec<usize> = store.matching(&f).into_iter().map(|i| i as usize).collect();
        assert_eq!(indexed, want, "{filter}");
    }
}

#[test]
fn json_that_qdrant_clients_send_parses() {
    let samples = [
        // REST documentation.
        r#"{"must": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}"#,
        r#"{"must_not": [{"must": [{"key": "city", "match": {"value": "London"}}, {"key": "color", "match": {"value": "red"}}]}]}"#,
        r#"{"should": [{"key": "country.cities[].population", "range": {"gte": 9.0}}]}"#,
        r#"{"must": [{"nested": {"key": "diet", "filter": {"must": [{"key": "food", "match": {"value": "meat"}}, {"key": "likes", "match": {"value": true}}]}}}, {"has_id": [1]}]}"#,
        r#"{"must": [{"key": "comments", "values_count": {"gt": 2}}]}"#,
        r#"{"must": [{"is_empty": {"key": "reports"}}, {"is_null": {"key": "reports"}}]}"#,
        r#"{"must": [{"key": "color", "match": {"except": ["black", "yellow"]}}]}"#,
        r#"{"must": [{"key": "color", "match": {"any": ["black", "yellow"]}}]}"#,
        r#"{"must": [{"key": "description", "match": {"text": "good cheap"}}]}"#,
        r#"{"must": [{"key": "date", "range": {"gt": "2023-02-08T10:49:00Z", "lte": "2024-01-31 10:14:31"}}]}"#,
        r#"{"must": [{"key": "uuid", "match": {"value": "f47ac10b-58cc-4372-a567-0e02b2c3d479"}}]}"#,
        r#"{"min_should": {"conditions": [{"key": "a", "match": {"value": 1}}, {"key": "b", "match": {"value": 2}}], "min_count": 1}}"#,
        // JavaScript client with explicit nulls.
        r#"{"should": [{"key": "country.cities[].population", "range": {"gt": null, "gte": 9.0, "lt": null, "lte": null}}]}"#,
        // Python client model dump: every absent field as null.
        r#"{"should": null, "min_should": null, "must": [{"key": "color", "match": {"value": "red"}, "range": null, "geo_bounding_box": null, "geo_radius": null, "geo_polygon": null, "values_count": null, "is_empty": null, "is_null": null}], "must_not": null}"#,
        r#"{"must": [{"has_id": ["550e8400-e29b-41d4-a716-446655440000", 7]}, {"should": null, "must": [{"key": "x", "match": {"value": 1}}]}]}"#,
        // One condition instead of a list; field-level is_empty (Qdrant 1.16+).
        r#"{"must": {"key": "x", "match": {"value": false}}, "must_not": {"key": "tags", "is_empty": true}}"#,
    ];
    for s in samples {
        let f = Filter::from_json_str(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let via_serde: Filter = serde_json::from_str(s).unwrap();
        assert_eq!(f, via_serde, "{s}");
        // What we write reads back as the same filter.
        let again = Filter::from_value(&f.to_value()).unwrap();
        assert_eq!(again, f, "{s}");
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(Filter::from_json_str(&text).unwrap(), f, "{text}");
    }

    // The parsed structure is what the JSON says.
    let f = Filter::from_json_str(samples[9]).unwrap();
    let Condition::Field(FieldCondition {
        key,
        op: FieldOp::DatetimeRange(r),
    }) = &f.must[0]
    else {
        panic!("expected a datetime range, got {:?}", f.must[0]);
    };
    assert_eq!(key.as_str(), "date");
    assert_eq!(r.gt.unwrap().micros(), 1_675_853_340_000_000);
    assert_eq!(r.lte.unwrap().to_string(), "2024-01-31T10:14:31Z");
    assert!(r.gte.is_none() && r.lt.is_none());
    let f = Filter::from_json_str(samples[13]).unwrap();
    assert_eq!(f.should, None);
    assert_eq!(
        f.must,
        [Condition::Field(FieldCondition {
            key: KeyPath::parse("color").unwrap(),
            op: FieldOp::Match(Match::Value(MatchValue::Keyword("red".into()))),
        })]
    );
    let f = Filter::from_json_str(samples[15]).unwrap();
    assert_eq!(f.must_not.len(), 1);
    assert!(matches!(&f.must_not[0], Condition::Field(c) if c.op == FieldOp::IsEmpty(true)));
    assert_eq!(
        Filter::from_json_str(samples[2]).unwrap().to_value(),
        json!({"should": [{"key": "country.cities[].population", "range": {"gte": 9.0}}]})
    );
}

#[test]
fn malformed_filters_name_the_bad_field() {
    let cases = [
        (
            r#"{"must": [{"key": "a", "match": {"value": 1}}, {"key": "p", "range": {"gt": true}}]}"#,
            "must[1].range: gt must be a number, got true",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"value": 1}}, {"key": "p", "range": {"gt": "abc"}}]}"#,
            "must[1].range: gt must be a number or an RFC 3339 datetime, got \"abc\"",
        ),
        (
            r#"{"must": [{"must": [{"key": "a", "range": {"lt": []}}]}]}"#,
            "must[0].must[0].range: lt must be a number, got []",
        ),
        (
            r#"{"must": [{"key": "a"}]}"#,
            "must[0]: condition on key \"a\" has no operator",
        ),
        (
            r#"{"must": [{"key": "a", "match": null, "range": null}]}"#,
            "must[0]: condition on key \"a\" has no operator",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"value": 1}, "foo": 1}]}"#,
            "must[0]: unknown field \"foo\"",
        ),
        (r#"{"mus": []}"#, "unknown field \"mus\""),
        (
            r#"{"should": [{"key": "a", "match": {"value": 1.5}}]}"#,
            "should[0].match: value must be a string, an integer or a bool, got 1.5",
        ),
        (
            r#"{"should": [{"key": "a", "match": {"value": null}}]}"#,
            "should[0].match: match needs one of value, any, except, text, phrase",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"any": ["x", 1]}}]}"#,
            "must[0].match: any must be an array of strings or an array of integers",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"except": [true]}}]}"#,
            "must[0].match: except must be an array",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]}"#,
            "must[0].match: match takes one of",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"valu": 1}}]}"#,
            "must[0].match: unknown field \"valu\"",
        ),
        (
            r#"{"must": [{"key": "a..b", "match": {"value": 1}}]}"#,
            "must[0].key: invalid key \"a..b\"",
        ),
        (
            r#"{"must": [{"key": 5, "match": {"value": 1}}]}"#,
            "must[0]: key must be a string, got a number",
        ),
        (
            r#"{"must": [{"has_id": [1, -2]}]}"#,
            "must[0].has_id[1]: point id must be an unsigned integer or a UUID, got -2",
        ),
        (
            r#"{"must": [{"has_id": [1.5]}]}"#,
            "must[0].has_id[0]: point id must be",
        ),
        (
            r#"{"must": [{"has_id": ["nope"]}]}"#,
            "must[0].has_id[0]: point id must be an unsigned integer or a UUID, got \"nope\"",
        ),
        (
            r#"{"must": [{"has_id": 3}]}"#,
            "must[0].has_id: must be an array of point ids",
        ),
        (
            r#"{"must": [{"nested": {"key": "diet", "filter": {"must": [{"has_id": [1]}]}}}]}"#,
            "must[0].nested.filter.must[0]: has_id is not supported inside a nested filter",
        ),
        (
            r#"{"must": [{"nested": {"key": "diet"}}]}"#,
            "must[0].nested: missing field \"filter\"",
        ),
        (
            r#"{"must": [{"nested": {"key": "diet", "filter": {"must": [{"key": "x", "range": {"gt": "?"}}]}}}]}"#,
            "must[0].nested.filter.must[0].range: gt must be a number",
        ),
        (
            r#"{"must": [{"key": "a", "values_count": {"gt": -1}}]}"#,
            "must[0].values_count: gt must be a non-negative integer, got -1",
        ),
        (
            r#"{"must": [{"key": "a", "values_count": {"eq": 1}}]}"#,
            "must[0].values_count: unknown field \"eq\"",
        ),
        (
            r#"{"min_should": {"conditions": [], "min_count": "2"}}"#,
            "min_should: min_count must be a non-negative integer",
        ),
        (
            r#"{"min_should": {"min_count": 2}}"#,
            "min_should: missing field \"conditions\"",
        ),
        (
            r#"{"min_should": {"conditions": [{"key": "a"}], "min_count": 1}}"#,
            "min_should.conditions[0]: condition on key \"a\" has no operator",
        ),
        (
            r#"{"must": [{"key": "a", "match": {"value": 1}, "range": {"gt": 1}}]}"#,
            "must[0]: a field condition takes one operator, got match and range",
        ),
        (
            r#"{"must": "x"}"#,
            "must: expected a condition or an array of conditions, got a string",
        ),
        (
            r#"{"must": [3]}"#,
            "must[0]: a condition must be a JSON object, got a number",
        ),
        (
            r#"{"must": [{"key": "t", "range": {"gt": "2023-01-01", "lt": 5}}]}"#,
            "must[0].range: lt must be an RFC 3339 datetime string, got 5",
        ),
        (
            r#"{"must": [{"key": "t", "datetime_range": {"gt": "tomorrow"}}]}"#,
            "must[0].datetime_range: gt must be an RFC 3339 datetime string, got \"tomorrow\"",
        ),
        (
            r#"{"must": [{"key": "t", "range": {"from": 1}}]}"#,
            "must[0].range: unknown field \"from\"",
        ),
        (
            r#"{"must": [{"is_empty": {"key": "a", "x": 1}}]}"#,
            "must[0].is_empty: unknown field \"x\"",
        ),
        (
            r#"{"must": [{"is_null": {}}]}"#,
            "must[0].is_null: missing field \"key\"",
        ),
        (
            r#"{"must": [{"is_null": {"key": "a"}, "has_id": [1]}]}"#,
            "must[0]: unknown field",
        ),
        (
            r#"{"must": [{"key": "a", "is_empty": "yes"}]}"#,
            "must[0]: is_empty must be a bool",
        ),
        (
            r#"{"must": [{"key": "loc", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1}}]}"#,
            "must[0]: geo_radius conditions are not supported",
        ),
        (
            r#"{"must": [{"has_vector": "image"}]}"#,
            "must[0]: has_vector conditions are not supported",
        ),
        (r#"{"must": [{}]}"#, "must[0]: empty condition"),
        (
            r#"{"must": [{"foo": 1}]}"#,
            "must[0]: unknown field \"foo\"",
        ),
        (
            r#"{"must": [{"must": [], "bar": 1}]}"#,
            "must[0]: unknown field \"bar\"",
        ),
        (r#"[1]"#, "a filter must be a JSON object, got an array"),
        (r#"{"must": "#, "not valid JSON"),
    ];
    for (text, want) in cases {
        match Filter::from_json_str(text) {
            Err(Error::InvalidFilter(msg)) => {
                assert!(
                    msg.starts_with(want),
                    "{text}\n  got:  {msg}\n  want: {want}…"
                );
                assert!(Error::InvalidFilter(msg).is_invalid_input());
            }
            other => panic!("{text}: expected InvalidFilter, got {other:?}"),
        }
        if want != "not valid JSON" {
            let e = serde_json::from_str::<Filter>(text)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "serde: {e}");
        }
    }
}

use crate::Error;

// ---------------------------------------------------------------------------
// Index-backed evaluation agrees with plain matching on random data.

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len() as u64) as usize]
}

const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "2023-02-08", "5"];
const TIMES: [&str; 10] = [
    "2023-02-08T10:49:00Z",
    "2023-02-08T12:49:00+02:00",
    "2023-02-08T10:49:00+02:00",
    "2023-02-08 23:30:00-0500",
    "2023-02-09",
    "2023-02-09T00:00:00.000001Z",
    "2023-02-07T23:59",
    "2023-02-10t01:00:00z",
    "2023-02-08T10:49:00.5+00",
    "not a date",
];

fn random_scalar(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => json!(null),
        1 => json!(rng.below(2) == 1),
        2 => json!(*pick(rng, &WORDS)),
        3 => json!(*pick(rng, &TIMES)),
        4 => json!(rng.below(7) as i64 - 3),
        5 => json!((rng.below(7) as i64 - 3) as f64),
        6 => json!((rng.below(60) as f64 - 30.0) / 8.0),
        7 => json!(u64::MAX - rng.below(2)),
        _ => json!(rng.below(2)),
    }
}

fn random_value(rng: &mut Rng, bias: impl Fn(&mut Rng) -> Value) -> Option<Value> {
    Some(match rng.below(12) {
        0 => return None,
        1 => json!(null),
        2 => json!([]),
        3 => random_scalar(rng),
        4 => json!([bias(rng), random_scalar(rng)]),
        5 => json!([[bias(rng)]]),
        6 => json!({"x": bias(rng)}),
        7 => json!([bias(rng), bias(rng), null]),
        _ => bias(rng),
    })
}

fn random_payload(rng: &mut Rng) -> Payload {
    let mut p = Payload::new();
    type Gen = fn(&mut Rng) -> Value;
    let biases: [(&str, Gen); 5] = [
        ("kw", |r| json!(*pick(r, &WORDS))),
        ("n", |r| json!(r.below(9) as i64 - 4)),
        ("f", |r| json!((r.below(40) as f64 - 20.0) / 4.0)),
        ("b", |r| json!(r.below(2) == 0)),
        ("t", |r| json!(*pick(r, &TIMES))),
    ];
    for (k, bias) in biases {
        if let Some(v) = random_value(rng, bias) {
            p.insert(k.into(), v);
        }
    }
    if rng.below(5) != 0 {
        let n = rng.below(4);
        let items: Vec<Value> = (0..n)
            .map(|_| {
                let mut o = serde_json::Map::new();
                if rng.below(6) != 0 {
                    o.insert("x".into(), json!(*pick(rng, &WORDS[..4])));
                }
                if rng.below(6) != 0 {
                    o.insert("y".into(), json!(rng.below(5) as i64));
                }
                Value::Object(o)
            })
            .collect();
        p.insert("o".into(), Value::Array(items));
    }
    p
}

fn random_bound(rng: &mut Rng, datetime: bool) -> Value {
    if datetime {
        json!(*pick(rng, &TIMES[..9]))
    } else if rng.below(2) == 0 {
        json!(rng.below(11) as i64 - 5)
    } else {
        json!((rng.below(80) as f64 - 40.0) / 8.0)
    }
}

fn random_bounds(rng: &mut Rng, datetime: bool) -> Value {
    let mut m = serde_json::Map::new();
    for k in ["gt", "gte", "lt", "lte"] {
        if rng.below(3) == 0 {
            m.insert(k.into(), random_bound(rng, datetime));
        }
    }
    if m.is_empty() {
        m.insert("gte".into(), random_bound(rng, datetime));
    }
    Value::Object(m)
}

fn random_list(rng: &mut Rng) -> Value {
    let n = rng.below(4);
    if rng.below(2) == 0 {
        Value::Array((0..n).map(|_| json!(*pick(rng, &WORDS))).collect())
    } else {
        Value::Array((0..n).map(|_| json!(rng.below(9) as i64 - 4)).collect())
    }
}

const KEYS: [&str; 7] = ["kw", "n", "f", "b", "t", "o[].x", "o[].y"];

fn random_condition(rng: &mut Rng, depth: u32, ids: &[PointId]) -> Value {
    let key = *pick(rng, &KEYS);
    match rng.below(if depth > 1 { 14 } else { 16 }) {
        0 => field(key, "match", json!({"value": *pick(rng, &WORDS)})),
        1 => field(key, "match", json!({"value": rng.below(9) as i64 - 4})),
        2 => field(key, "match", json!({"value": rng.below(2) == 0})),
        3 => field(key, "match", json!({"any": random_list(rng)})),
        4 => field(key, "match", json!({"except": random_list(rng)})),
        5 => field(
            key,
            "match",
            json!({"text": *pick(rng, &["a", "et", "2023", "5", ""])}),
        ),
        6 | 7 => field(key, "range", random_bounds(rng, false)),
        8 | 9 => field(key, "range", random_bounds(rng, true)),
        10 => field(
            key,
            "values_count",
            json!({"gte": rng.below(3), "lt": rng.below(4) + 1}),
        ),
        11 => json!({"is_empty": {"key": key}}),
        12 => json!({"is_null": {"key": key}}),
        13 => {
            let chosen: Vec<PointId> = (0..rng.below(40) + 1).map(|_| *pick(rng, ids)).collect();
            json!({"has_id": chosen})
        }
        14 => json!({"nested": {"key": "o", "filter": {"must": [
            field("x", "match", json!({"value": *pick(rng, &WORDS)})),
            field("y", "range", json!({"gte": rng.below(4)})),
        ]}}}),
        _ => random_filter(rng, depth + 1, ids),
    }
}

fn random_clause(rng: &mut Rng, depth: u32, ids: &[PointId]) -> Value {
    Value::Array(
        (0..rng.below(3) + 1)
            .map(|_| random_condition(rng, depth, ids))
            .collect(),
    )
}

fn random_filter(rng: &mut Rng, depth: u32, ids: &[PointId]) -> Value {
    let mut m = serde_json::Map::new();
    match rng.below(6) {
        0 => {
            m.insert("must".into(), json!([random_condition(rng, depth, ids)]));
        }
        1 => {
            m.insert("must".into(), random_clause(rng, depth, ids));
            m.insert("must_not".into(), random_clause(rng, depth, ids));
        }
        2 => {
            m.insert("should".into(), random_clause(rng, depth, ids));
        }
        3 => {
            m.insert("must_not".into(), random_clause(rng, depth, ids));
        }
        4 => {
            m.insert(
                "min_should".into(),
                json!({"conditions": random_clause(rng, depth, ids), "min_count": rng.below(3)}),
            );
        }
        _ => {
            m.insert("must".into(), random_clause(rng, depth, ids));
            m.insert("should".into(), random_clause(rng, depth, ids));
        }
    }
    Value::Object(m)
}

/// Whether this single condition on this store must be answered exactly
/// by its index (a match on a keyword/integer/bool index, a range on any
/// index, has_id).
fn single_is_indexed(c: &Value, schemas: &[(&str, FieldSchema)]) -> bool {
    if c.get("has_id").is_some() {
        return true;
    }
    let Some(key) = c.get("key").and_then(Value::as_str) else {
        return false;
    };
    let Some(&(_, schema)) = schemas.iter().find(|(k, _)| *k == key) else {
        return false;
    };
    if c.get("range").is_some() {
        return true;
    }
    c.get("match").is_some()
        && matches!(
            schema,
            FieldSchema::Keyword | FieldSchema::Integer | FieldSchema::Bool
        )
}

#[test]
fn indexed_evaluation_agrees_with_plain_matching_on_random_payloads() {
    let seed = std::env::var("GRAPE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f11e_u64);
    std::println!("seed {seed:#x}");
    let mut rng = Rng::new(seed);
    let layouts: [&[(&str, FieldSchema)]; 3] = [
        &[
            ("kw", FieldSchema::Keyword),
            ("n", FieldSchema::Integer),
            ("f", FieldSchema::Float),
            ("b", FieldSchema::Bool),
            ("t", FieldSchema::Datetime),
            ("o[].x", FieldSchema::Keyword),
            ("o[].y", FieldSchema::Integer),
        ],
        &[
            ("kw", FieldSchema::Datetime),
            ("n", FieldSchema::Float),
            ("f", FieldSchema::Integer),
            ("b", FieldSchema::Keyword),
            ("t", FieldSchema::Keyword),
            ("o[].y", FieldSchema::Float),
            ("o[].x", FieldSchema::Bool),
        ],
        &[],
    ];
    const N: u32 = 2000;
    let ids: Vec<PointId> = (0..N as u64 + 100)
        .map(|i| {
            if i % 3 == 0 {
                PointId::Uuid(u128::from(i) << 64 | 0xabc)
            } else {
                PointId::Num(i * 7)
            }
        })
        .collect();
    let payloads: Vec<Payload> = (0..N + 300).map(|_| random_payload(&mut rng)).collect();

    for (li, schemas) in layouts.iter().enumerate() {
        let mut store = PayloadStore::new();
        // Half of the indexes exist before the points, half are built over them.
        let (before, after) = schemas.split_at(schemas.len() / 2);
        for (k, s) in before {
            store.create_index(k, *s).unwrap();
        }
        for i in 0..N {
            store.set(i, ids[i as usize], payloads[i as usize].clone());
        }
        for (k, s) in after {
            store.create_index(k, *s).unwrap();
        }
        // Deletes, overwrites and reuse of freed slots keep indexes right.
        for j in 0..300u32 {
            let slot = rng.below(u64::from(N)) as u32;
            if j % 3 == 0 {
                store.remove(slot);
            } else {
                store.set(slot, ids[slot as usize], payloads[(N + j) as usize].clone());
            }
        }
        store.remove(N - 1);
        store.set(N + 20, ids[(N + 20) as usize], payloads[5].clone());
        for (k, s) in *schemas {
            assert_eq!(store.index_schema(k), Some(*s));
        }

        let live: Vec<u32> = store.iter().map(|(i, _, _)| i).collect();
        let (mut exact, mut singles) = (0, 0);
        for case in 0..600 {
            let filter_json = if case % 2 == 0 {
                json!({"must": [random_condition(&mut rng, 2, &ids)]})
            } else {
                random_filter(&mut rng, 0, &ids)
            };
            let f =
                Filter::from_value(&filter_json).unwrap_or_else(|e| panic!("{filter_json}: {e}"));
            assert_eq!(
                Filter::from_value(&f.to_value()).unwrap(),
                f,
                "round trip of {filter_json}"
            );
            let want: Vec<u32> = live
                .iter()
                .copied()
                .filter(|&i| {
                    let (id, p) = store.get(i).unwrap();
                    f.matches(id, p)
                })
                .collect();
            let ctx = || format!("layout {li}, filter {filter_json}");
            assert_eq!(store.matching(&f), want, "{}", ctx());
            assert_eq!(store.count(&f), want.len(), "{}", ctx());
            let m = store.matcher(&f);
            let allowed: Vec<u32> = (0..N + 64).filter(|&i| m.allows(i)).collect();
            assert_eq!(allowed, want, "{}", ctx());
            if m.is_exact() {
                exact += 1;
                assert_eq!(m.cardinality(), Some(want.len()), "{}", ctx());
            }
            if case % 2 == 0 && single_is_indexed(&filter_json["must"][0], schemas) && li == 0 {
                singles += 1;
                assert!(m.is_exact(), "{}", ctx());
                assert_eq!(m.cardinality(), Some(want.len()), "{}", ctx());
            }
            if li == 2 && case % 2 == 0 && !filter_json.to_string().contains("has_id") {
                // Without indexes a condition leaves the estimate to the search.
                assert_eq!(m.cardinality(), None, "{}", ctx());
            }
        }
        std::println!(
            "layout {li}: {exact} of 600 filters answered exactly, {singles} single indexed"
        );
        if li == 0 {
            assert!(exact > 150 && singles > 100, "{exact} {singles}");
        }
    }
}

#[test]
fn store_keeps_ids_payloads_and_indexes_in_step() {
    let mut store = PayloadStore::new();
    assert!(store.is_empty());
    store.create_index("city", FieldSchema::Keyword).unwrap();
    assert!(store.create_index("a..b", FieldSchema::Keyword).is_err());
    store.set(3, PointId::Num(10), obj(json!({"city": "Paris"})));
    store.set(0, PointId::Num(11), obj(json!({"city": ["Paris", "Rome"]})));
    let paris =
        Filter::from_json_str(r#"{"must": {"key": "city", "match": {"value": "Paris"}}}"#).unwrap();
    assert_eq!(store.matching(&paris), [0, 3]);
    assert_eq!(store.internal_id(&PointId::Num(10)), Some(3));
    // Overwriting a slot replaces its indexed values.
    store.set(3, PointId::Num(10), obj(json!({"city": "Oslo"})));
    assert_eq!(store.matching(&paris), [0]);
    assert_eq!(store.len(), 2);
    let (id, p) = store.remove(0).unwrap();
    assert_eq!(id, PointId::Num(11));
    assert_eq!(p["city"], json!(["Paris", "Rome"]));
    assert_eq!(store.matching(&paris), Vec::<u32>::new());
    assert_eq!(store.internal_id(&PointId::Num(11)), None);
    assert!(store.remove(0).is_none());
    assert_eq!(store.get(3).unwrap().1["city"], "Oslo");
    // Changing the schema rebuilds; dropping falls back to scanning.
    store.create_index("city", FieldSchema::Integer).unwrap();
    assert_eq!(store.index_schema("city"), Some(FieldSchema::Integer));
    let oslo =
        Filter::from_json_str(r#"{"must": {"key": "city", "match": {"value": "Oslo"}}}"#).unwrap();
    assert_eq!(store.matching(&oslo), [3]);
    assert!(store.drop_index("city"));
    assert!(!store.drop_index("city"));
    assert_eq!(store.matcher(&oslo).cardinality(), None);
    assert_eq!(store.matching(&oslo), [3]);
    // A point the store does not know never passes.
    assert!(!store.matcher(&Filter::new()).allows(7));
    assert!(store.matcher(&Filter::new()).allows(3));
}

#[test]
fn combinations_of_indexed_conditions_have_exact_cardinality() {
    let mut store = PayloadStore::new();
    for i in 0..1000u32 {
        let p =
            json!({"g": i % 10, "h": if i % 2 == 0 { "even" } else { "odd" }, "s": i.to_string()});
        store.set(i, PointId::Num(u64::from(i)), obj(p));
    }
    store.create_index("g", FieldSchema::Integer).unwrap();
    store.create_index("h", FieldSchema::Keyword).unwrap();
    let card = |s: &str| {
        let f = Filter::from_json_str(s).unwrap();
        let m = store.matcher(&f);
        (m.is_exact(), m.cardinality())
    };
    let g3 = r#"{"key": "g", "match": {"value": 3}}"#;
    let even = r#"{"key": "h", "match": {"value": "even"}}"#;
    let low = r#"{"key": "g", "range": {"lt": 4}}"#;
    // g = 3 is 100 points, all odd; g < 4 is 400 points, 200 of them even.
    assert_eq!(card(&format!(r#"{{"must": [{g3}]}}"#)), (true, Some(100)));
    assert_eq!(
        card(&format!(r#"{{"must": [{g3}, {even}]}}"#)),
        (true, Some(0))
    );
    assert_eq!(
        card(&format!(r#"{{"should": [{g3}, {even}]}}"#)),
        (true, Some(600))
    );
    assert_eq!(
        card(&format!(r#"{{"must_not": [{low}]}}"#)),
        (true, Some(600))
    );
    assert_eq!(
        card(&format!(r#"{{"must": [{low}], "must_not": [{even}]}}"#)),
        (true, Some(200))
    );
    assert_eq!(
        card(&format!(
            r#"{{"min_should": {{"conditions": [{g3}, {even}, {low}], "min_count": 2}}}}"#
        )),
        (true, Some(300))
    );
    // With an unindexed condition the candidates bound the estimate, here
    // exactly since they are few: s ends in 7 → 100 points, 20 of them < 4.
    let f = Filter::from_json_str(&format!(
        r#"{{"must": [{low}, {{"key": "s", "match": {{"text": "7"}}}}]}}"#
    ))
    .unwrap();
    let m = store.matcher(&f);
    assert!(!m.is_exact());
    let want = store.count(&f);
    assert_eq!(m.cardinality(), Some(want));
    // Without any indexed condition the searches sample instead.
    let f = Filter::from_json_str(r#"{"must": [{"key": "s", "match": {"text": "7"}}]}"#).unwrap();
    assert_eq!(store.matcher(&f).cardinality(), None);
}
