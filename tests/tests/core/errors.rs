//! Bad input gets a typed error with a clear message, and changes nothing.

use grape_core::{Error, FlatIndex, Hnsw, HnswConfig, Metric, SearchParams, VectorIndex};

fn indexes(metric: Metric) -> Vec<Box<dyn VectorIndex>> {
    let mut h = Hnsw::new(HnswConfig::new(3, metric)).unwrap();
    let mut f = FlatIndex::new(3, metric).unwrap();
    h.upsert(1, &[1.0, 2.0, 3.0]).unwrap();
    f.upsert(1, &[1.0, 2.0, 3.0]).unwrap();
    vec![Box::new(h), Box::new(f)]
}

#[test]
fn bad_vectors_are_rejected_and_nothing_changes() {
    for mut index in indexes(Metric::Cosine) {
        let before = index.to_bytes();
        assert_eq!(
            index.upsert(2, &[1.0, 2.0]).unwrap_err(),
            Error::DimensionMismatch {
                expected: 3,
                got: 2
            }
        );
        assert!(matches!(
            index.upsert(1, &[1.0, f32::NAN, 0.0]).unwrap_err(),
            Error::NonFiniteComponent { index: 1, .. }
        ));
        assert!(matches!(
            index.upsert(1, &[f32::INFINITY, 0.0, 0.0]).unwrap_err(),
            Error::NonFiniteComponent { index: 0, .. }
        ));
        assert_eq!(
            index.upsert(1, &[0.0, 0.0, 0.0]).unwrap_err(),
            Error::ZeroVector
        );
        assert_eq!(index.delete(77).unwrap_err(), Error::UnknownId(77));
        assert_eq!(
            index.to_bytes(),
            before,
            "a rejected call changed the index"
        );
        let p = SearchParams::top(1);
        assert!(matches!(
            index.search(&[1.0; 4], &p, None),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            index.search(&[f32::NAN; 3], &p, None),
            Err(Error::NonFiniteComponent { .. })
        ));
        assert_eq!(
            index.search(&[0.0; 3], &p, None).unwrap_err(),
            Error::ZeroVector
        );
        assert!(matches!(
            index.search(&[1.0; 3], &SearchParams::top(1).with_ef(0), None),
            Err(Error::InvalidParameter(_))
        ));
    }
}

#[test]
fn zero_vector_is_fine_without_cosine() {
    for metric in [Metric::Dot, Metric::Euclid, Metric::Manhattan] {
        for mut index in indexes(metric) {
            index.upsert(2, &[0.0; 3]).unwrap();
            assert_eq!(index.len(), 2);
        }
    }
}

#[test]
fn messages_say_what_failed() {
    let msg = |e: Error| e.to_string();
    assert_eq!(
        msg(Error::DimensionMismatch {
            expected: 768,
            got: 512
        }),
        "dimension mismatch: expected 768, got 512"
    );
    assert_eq!(msg(Error::UnknownId(5)), "unknown point id 5");
    assert_eq!(
        msg(Error::ZeroVector),
        "zero vector cannot be indexed or searched under cosine distance"
    );
    assert_eq!(
        msg(Error::NonFiniteComponent {
            index: 3,
            value: f32::NAN
        }),
        "vector component 3 is not a finite number (NaN)"
    );
    assert!(Error::UnknownId(1).is_invalid_input());
    assert!(!Error::ChecksumMismatch.is_invalid_input());
}

#[test]
fn bad_configs_are_rejected() {
    for (cfg, needle) in [
        (HnswConfig::new(0, Metric::Dot), "dim"),
        (HnswConfig::new(70_000, Metric::Dot), "dim"),
        (
            HnswConfig::new(8, Metric::Dot).m(1),
            "m must be 0 (no graph, exact search) or in 2..=128, got 1",
        ),
        (HnswConfig::new(8, Metric::Dot).m(500), "m must"),
        (
            HnswConfig::new(8, Metric::Dot).ef_construction(0),
            "ef_construction",
        ),
        (HnswConfig::new(8, Metric::Dot).ef_search(0), "ef_search"),
    ] {
        match Hnsw::new(cfg) {
            Err(Error::InvalidConfig(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{cfg:?} gave {other:?}"),
        }
    }
    assert!(FlatIndex::new(0, Metric::Cosine).is_err());
}
