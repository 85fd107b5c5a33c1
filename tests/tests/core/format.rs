//! The portable byte format: round trips, the committed golden files, and
//! rejection of every single-byte corruption and every truncation.

use grape_core::{
    AnyIndex, Error, FlatIndex, Hnsw, HnswConfig, Metric, QuantSearch, Quantization, SearchParams,
    VectorIndex,
};

use crate::{build, fixture};

/// The small index behind `tests/data/golden-v1.hnsw`: 60 points of 4
/// dimensions (ids 100..160), 5 of them deleted but not yet compacted.
pub fn golden_hnsw() -> Hnsw {
    let cfg = HnswConfig::new(4, Metric::Cosine)
        .m(4)
        .ef_construction(16)
        .seed(3)
        .full_scan_threshold(0);
    let mut h = Hnsw::new(cfg).unwrap();
    for i in 0..60u64 {
        let x = i as f32;
        h.upsert(100 + i, &[1.0 + x, (x * 0.7).sin(), (x * 1.3).cos(), 0.5])
            .unwrap();
    }
    for id in [101, 117, 130, 142, 159] {
        h.delete(id).unwrap();
    }
    h
}

fn golden_flat() -> FlatIndex {
    let mut f = FlatIndex::new(3, Metric::Euclid).unwrap();
    for i in 0..20u64 {
        f.upsert(i * 3, &[i as f32, -(i as f32) / 2.0, 1.0])
            .unwrap();
    }
    f.delete(9).unwrap();
    f
}

fn golden_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn read_golden(name: &str) -> Vec<u8> {
    let path = golden_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Version 1 files (written before quantization existed) still load, hold
/// what was written, and re-encode as the version 2 bytes of the same index.
#[test]
fn golden_files_of_format_v1_still_load() {
    // Version 2 appends fields to the version 1 bodies: an HNSW index gains
    // `keeps_vectors` (true: 1) and `quant` (None: 0), a flat index `quant`.
    for (name, appended) in [
        ("golden-v1.hnsw", &[1u8, 0][..]),
        ("golden-v1.flat", &[0u8][..]),
    ] {
        let committed = read_golden(name);
        assert_eq!(u16::from_le_bytes([committed[8], committed[9]]), 1);
        let again = AnyIndex::from_bytes(&committed)
            .unwrap()
            .as_index()
            .to_bytes();
        assert_eq!(u16::from_le_bytes([again[8], again[9]]), 2);
        let mut want = committed[24..].to_vec();
        want.extend_from_slice(appended);
        assert_eq!(
            again[24..],
            want[..],
            "{name}: v2 body is not v1 + new fields"
        );
    }
    let h = match AnyIndex::from_bytes(&read_golden("golden-v1.hnsw")).unwrap() {
        AnyIndex::Hnsw(h) => h,
        AnyIndex::Flat(_) => panic!("golden hnsw loaded as flat"),
    };
    assert_eq!(h.len(), 55);
    assert_eq!(h.deleted_len(), 5);
    assert_eq!(h.config().m, 4);
    assert_eq!(h.quantization(), None);
    let q = [11.0, 0.0, 0.0, 0.5];
    let graph = h.search(&q, &SearchParams::top(3), None).unwrap();
    let exact = h
        .search(&q, &SearchParams::top(3).with_exact(true), None)
        .unwrap();
    assert_eq!(graph, exact);
    assert!(
        graph
            .iter()
            .all(|x| ![101, 117, 130, 142, 159].contains(&x.id))
    );
    let f = AnyIndex::from_bytes(&read_golden("golden-v1.flat")).unwrap();
    assert_eq!(f.as_index().len(), 19);
    assert_eq!(f.as_index().vector(6), Some(&[2.0, -1.0, 1.0][..]));
}

/// The golden indexes of format version 2: int8 HNSW, product-quantized
/// HNSW without originals, binary flat.
fn golden_v2() -> Vec<(&'static str, Vec<u8>)> {
    let mut int8 = golden_hnsw();
    int8.quantize(Quantization::int8()).unwrap();
    let mut pq = golden_hnsw();
    pq.quantize(Quantization::Product { m: 2 }).unwrap();
    pq.drop_originals().unwrap();
    let mut binary = golden_flat();
    binary.quantize(Quantization::Binary).unwrap();
    vec![
        ("golden-v2-int8.hnsw", int8.to_bytes()),
        ("golden-v2-pq.hnsw", pq.to_bytes()),
        ("golden-v2-binary.flat", binary.to_bytes()),
    ]
}

/// Committed bytes must still load, and re-encoding what was loaded must
/// give the same bytes: a change to the format without a version bump fails
/// here. (Graph construction may change between releases; the format may not.)
/// Regenerate deliberately with GRAPE_BLESS=1.
#[test]
fn golden_files_of_format_v2() {
    for (name, fresh) in golden_v2() {
        let path = golden_path(name);
        if std::env::var_os("GRAPE_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = read_golden(name);
        assert_eq!(u16::from_le_bytes([committed[8], committed[9]]), 2);
        let loaded = AnyIndex::from_bytes(&committed).unwrap();
        assert_eq!(
            loaded.as_index().to_bytes(),
            committed,
            "{name}: re-encoding differs"
        );
    }
    let q = [11.0, 0.0, 0.0, 0.5];
    let load_hnsw = |name| match AnyIndex::from_bytes(&read_golden(name)).unwrap() {
        AnyIndex::Hnsw(h) => h,
        AnyIndex::Flat(_) => panic!("{name} loaded as flat"),
    };
    let int8 = load_hnsw("golden-v2-int8.hnsw");
    assert_eq!(int8.quantization(), Some(Quantization::int8()));
    assert!(int8.keeps_originals());
    // Rescored with the originals, the quantized search finds the true top 3.
    let exact = int8
        .search(
            &q,
            &SearchParams::top(3)
                .with_exact(true)
                .with_quantization(QuantSearch {
                    ignore: true,
                    ..QuantSearch::default()
                }),
            None,
        )
        .unwrap();
    // The 55 vectors are nearly parallel (cosine > 0.999), closer than int8
    // resolves: oversampling 20 rescoring every point must give the exact top.
    let p = SearchParams::top(3).with_quantization(QuantSearch {
        oversampling: Some(20.0),
        ..QuantSearch::default()
    });
    assert_eq!(int8.search(&q, &p, None).unwrap(), exact);
    let pq = load_hnsw("golden-v2-pq.hnsw");
    assert_eq!(pq.quantization(), Some(Quantization::Product { m: 2 }));
    assert!(!pq.keeps_originals());
    assert_eq!(pq.vector(100), None);
    assert_eq!(pq.len(), 55);
    assert_eq!(pq.search(&q, &SearchParams::top(3), None).unwrap().len(), 3);
    let f = AnyIndex::from_bytes(&read_golden("golden-v2-binary.flat")).unwrap();
    let AnyIndex::Flat(f) = f else {
        panic!("flat loaded as hnsw")
    };
    assert_eq!(f.quantization(), Some(Quantization::Binary));
    assert_eq!(f.vector(6), Some(&[2.0, -1.0, 1.0][..]));
}

#[test]
fn round_trip_keeps_everything() {
    let (pts, queries) = fixture(3_000, 17);
    let mut h = build(&pts, Metric::Cosine, 17);
    for id in 0..100 {
        h.delete(id * 3).unwrap();
    }
    let bytes = h.to_bytes();
    let back = Hnsw::from_bytes(&bytes).unwrap();
    assert_eq!(back.len(), h.len());
    assert_eq!(back.to_bytes(), bytes, "re-encoding is stable");
    for q in queries.iter().take(30) {
        let p = SearchParams::top(10).with_ef(40);
        assert_eq!(
            h.search(q, &p, None).unwrap(),
            back.search(q, &p, None).unwrap()
        );
    }
    // The loaded index keeps working: inserts continue the same level sequence.
    let mut a = h.clone();
    let mut b = back;
    a.upsert(1_000_000, &pts[1].1).unwrap();
    b.upsert(1_000_000, &pts[1].1).unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());

    let f = golden_flat();
    let fb = FlatIndex::from_bytes(&f.to_bytes()).unwrap();
    assert_eq!(fb.len(), 19);
    assert_eq!(fb.vector(6), Some(&[2.0, -1.0, 1.0][..]));
    assert!(matches!(
        Hnsw::from_bytes(&f.to_bytes()),
        Err(Error::Corrupted(_))
    ));
}

fn assert_rejects_all_damage(bytes: &[u8]) {
    for len in 0..bytes.len() {
        let r = AnyIndex::from_bytes(&bytes[..len]);
        assert!(
            r.is_err(),
            "truncation to {len} of {} bytes was accepted",
            bytes.len()
        );
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.to_vec();
            bad[i] ^= flip;
            let r = AnyIndex::from_bytes(&bad);
            assert!(r.is_err(), "byte {i} ^ {flip:#x} was accepted");
            assert!(!r.unwrap_err().is_invalid_input());
        }
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(
        AnyIndex::from_bytes(&longer).is_err(),
        "trailing byte accepted"
    );
}

#[test]
fn every_corruption_and_truncation_is_rejected() {
    assert_rejects_all_damage(&golden_hnsw().to_bytes());
    assert_rejects_all_damage(&golden_flat().to_bytes());
}

#[test]
fn errors_name_the_damage() {
    let bytes = golden_hnsw().to_bytes();
    assert_eq!(AnyIndex::from_bytes(b"hello").unwrap_err(), Error::BadMagic);
    assert!(matches!(
        AnyIndex::from_bytes(&bytes[..10]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        AnyIndex::from_bytes(&bytes[..bytes.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    let mut v3 = bytes.clone();
    v3[8] = 3;
    assert_eq!(
        AnyIndex::from_bytes(&v3).unwrap_err(),
        Error::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    );
    let mut body = bytes.clone();
    let last = body.len() - 1;
    body[last] ^= 0x10;
    assert_eq!(
        AnyIndex::from_bytes(&body).unwrap_err(),
        Error::ChecksumMismatch
    );
    assert_eq!(
        Error::UnsupportedVersion {
            found: 2,
            supported: 1
        }
        .to_string(),
        "unsupported format version 2 (this build reads version 1)"
    );
}
