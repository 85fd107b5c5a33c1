use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::*;
use crate::Error;
use crate::rng::Rng;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-30)
}

fn assert_hits(got: &[(u32, f32)], want: &[(u32, f64)]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "{got:?} vs {want:?}");
        assert!(close(f64::from(g.1), w.1, 2e-6), "{got:?} vs {want:?}");
    }
}

/// d1 "cat dog cat" (dl 3), d2 "dog bird" (dl 2), d3 "cat fish fish fish"
/// (dl 4), d4 "bird" (dl 1).
fn corpus() -> TextIndex {
    let mut index = TextIndex::new(Tokenizer::new());
    index.add(1, "Cat dog cat");
    index.add(2, "dog, bird.");
    index.add(3, "cat fish FISH fish");
    index.add(4, "bird");
    index
}

/// N = 4, total length 10, avgdl = 2.5; k1 = 1.2, b = 0.75.
/// idf(df = 2) = ln(1 + (4 - 2 + 0.5) / 2.5) = ln 2        = 0.693147
/// idf(df = 1) = ln(1 + (4 - 1 + 0.5) / 1.5) = ln(10 / 3)  = 1.203973
/// K(dl) = k1 (1 - b + b dl / avgdl) = 0.3 + 0.36 dl: K(1) = 0.66,
///         K(2) = 1.02, K(3) = 1.38, K(4) = 1.74.
/// term score = idf · tf · 2.2 / (tf + K(dl)).
#[test]
fn bm25_scores_equal_hand_computed_values() {
    let index = corpus();
    assert_eq!(index.len(), 4);
    assert_eq!(index.avg_doc_len(), 2.5);
    assert_eq!(index.doc_len(3), Some(4));
    assert_eq!(index.doc_freq("cat"), 2);
    assert_eq!(index.doc_freq("fish"), 1);
    assert!(close(
        f64::from(index.idf("cat")),
        core::f64::consts::LN_2,
        1e-6
    ));
    assert!(close(f64::from(index.idf("fish")), 1.203_972_80, 1e-6));

    // "cat": d1 = 0.693147 · 2 · 2.2 / (2 + 1.38) = 0.902321774
    //        d3 = 0.693147 · 1 · 2.2 / (1 + 1.74) = 0.556541532
    let cat = [(1, 0.902_321_774), (3, 0.556_541_532)];
    assert_hits(&index.search("cat", 10, None), &cat);
    assert_hits(&index.search_exhaustive("CAT", 10, None), &cat);

    // "cat fish": d3 = 0.556541532 + 1.203973 · 3 · 2.2 / (3 + 1.74)
    //                = 0.556541532 + 1.676417829 = 2.232959361
    assert_hits(
        &index.search("cat fish", 10, None),
        &[(3, 2.232_959_361), (1, 0.902_321_774)],
    );

    // "dog bird": d2 = 2 · 0.693147 · 2.2 / (1 + 1.02) = 1.509825542
    //             d4 = 0.693147 · 2.2 / (1 + 0.66)     = 0.918628794
    //             d1 = 0.693147 · 2.2 / (1 + 1.38)     = 0.640724285
    let dog_bird = [(2, 1.509_825_542), (4, 0.918_628_794), (1, 0.640_724_285)];
    assert_hits(&index.search("dog bird", 10, None), &dog_bird);
    assert_hits(&index.search("dog bird", 2, None), &dog_bird[..2]);
    let not_two = |id: u32| id != 2;
    assert_hits(
        &index.search("dog bird", 10, Some(&not_two)),
        &dog_bird[1..],
    );
}

/// After removing d3: N = 3, total length 6, avgdl = 2.
/// df: cat 1, dog 2, bird 2, fish 0.
/// idf(df = 1) = ln(1 + 2.5 / 1.5) = ln(8 / 3) = 0.980829
/// idf(df = 2) = ln(1 + 1.5 / 2.5) = ln 1.6    = 0.470004
/// K(dl) = 1.2 (0.25 + 0.75 dl / 2) = 0.3 + 0.45 dl: K(1) = 0.75,
///         K(2) = 1.2, K(3) = 1.65.
#[test]
fn idf_and_avgdl_follow_removes_and_replacements() {
    let mut index = corpus();
    assert!(index.remove(3));
    assert!(!index.remove(3));
    assert_eq!(index.len(), 3);
    assert_eq!(index.avg_doc_len(), 2.0);
    assert_eq!(index.doc_freq("cat"), 1);
    assert_eq!(index.doc_freq("fish"), 0);
    assert!(close(f64::from(index.idf("cat")), 0.980_829_25, 1e-6));
    assert!(close(f64::from(index.idf("dog")), 0.470_003_63, 1e-6));
    // "cat": d1 = 0.980829 · 2 · 2.2 / (2 + 1.65) = 1.182369510
    assert_hits(&index.search("cat", 10, None), &[(1, 1.182_369_510)]);
    // "dog bird": d2 = 2 · 0.470004 · 2.2 / (1 + 1.2) = 0.940007258
    //             d4 = 0.470004 · 2.2 / (1 + 0.75)    = 0.590861705
    //             d1 = 0.470004 · 2.2 / (1 + 1.65)    = 0.390191692
    assert_hits(
        &index.search("dog bird", 10, None),
        &[(2, 0.940_007_258), (4, 0.590_861_705), (1, 0.390_191_692)],
    );
    assert!(index.search("fish", 10, None).is_empty());

    // Adding d3 back restores the first corpus exactly.
    index.add(3, "cat fish fish fish");
    assert_hits(
        &index.search("cat", 10, None),
        &[(1, 0.902_321_774), (3, 0.556_541_532)],
    );
    // Replacing d4 ("bird", dl 1) by "fish" (dl 1) changes df but not avgdl.
    index.add(4, "fish");
    assert_eq!(index.len(), 4);
    assert_eq!(index.avg_doc_len(), 2.5);
    assert_eq!(index.doc_freq("bird"), 1);
    assert_eq!(index.doc_freq("fish"), 2);
}

#[test]
fn query_term_repeats_follow_query_tf() {
    let index = corpus();
    let once = index.search("cat", 10, None);
    let twice = index.search("cat cat", 10, None);
    assert_eq!(twice.len(), once.len());
    for (a, b) in once.iter().zip(&twice) {
        assert_eq!(a.0, b.0);
        assert!(close(f64::from(b.1), 2.0 * f64::from(a.1), 1e-6));
    }
    let mut distinct =
        TextIndex::with_params(Tokenizer::new(), Bm25Params::default().with_query_tf(false))
            .unwrap();
    for (id, text) in [
        (1, "cat dog cat"),
        (2, "dog bird"),
        (3, "cat fish fish fish"),
        (4, "bird"),
    ] {
        distinct.add(id, text);
    }
    assert_eq!(distinct.search("cat cat", 10, None), once);
}

#[test]
fn empty_and_stop_word_queries_return_nothing() {
    let mut index = TextIndex::new(Tokenizer::new().english_stop_words(true));
    index.add(1, "the cat is on the mat");
    index.add(2, "");
    assert_eq!(index.doc_len(1), Some(2));
    assert_eq!(index.doc_len(2), Some(0));
    assert_eq!(index.len(), 2);
    assert_eq!(index.avg_doc_len(), 1.0);
    assert!(index.search("", 10, None).is_empty());
    assert!(index.search("   ...  ", 10, None).is_empty());
    assert!(index.search("The AND of is", 10, None).is_empty());
    assert!(index.search("unknown words", 10, None).is_empty());
    assert!(index.search("cat", 0, None).is_empty());
    assert_eq!(index.search("cat", 10, None)[0].0, 1);
    assert!(
        TextIndex::new(Tokenizer::new())
            .search("cat", 5, None)
            .is_empty()
    );
}

#[test]
fn chinese_and_japanese_queries_find_their_documents() {
    let mut index = TextIndex::new(Tokenizer::new().english_stop_words(true));
    index.add(10, "向量数据库支持全文检索和混合搜索");
    index.add(11, "今天天气很好，我们去公园散步。");
    index.add(12, "東京都でラーメンを食べました");
    index.add(13, "京都の寺を訪れました");
    index.add(14, "A vector database in Rust, with full-text search");
    index.add(15, "한국어 문서 검색");
    let top = |q: &str| index.search(q, 10, None).first().map(|h| h.0);
    assert_eq!(top("全文检索"), Some(10));
    assert_eq!(top("数据库"), Some(10));
    assert_eq!(top("天气"), Some(11));
    assert_eq!(top("ラーメン"), Some(12));
    assert_eq!(top("東京"), Some(12));
    assert!(top("文书检索").is_some());
    assert_eq!(top("검색"), Some(15));
    assert_eq!(top("vector databases").map(|id| id == 14), Some(true));
    // "京都" occurs in both Japanese documents (東京都 contains it too).
    let kyoto: Vec<u32> = index.search("京都", 10, None).iter().map(|h| h.0).collect();
    assert_eq!(kyoto.len(), 2);
    assert!(kyoto.contains(&12) && kyoto.contains(&13));
    // Chinese text never matches the English document and vice versa.
    assert!(!index.search("全文检索", 10, None).iter().any(|h| h.0 == 14));
    assert!(!index.search("search", 10, None).iter().any(|h| h.0 == 10));
}

#[cfg(feature = "stem")]
#[test]
fn stemming_matches_inflected_forms() {
    let tokenizer = Tokenizer::new().english_stop_words(true).stemming(true);
    let mut index = TextIndex::new(tokenizer);
    index.add(1, "The runner was running quickly");
    index.add(2, "Connections between databases");
    index.add(3, "A quiet afternoon");
    assert_eq!(index.search("runs", 10, None).first().map(|h| h.0), Some(1));
    assert_eq!(index.search("connected database", 10, None)[0].0, 2);
    assert_eq!(index.doc_freq("run"), 1);
    assert_eq!(index.doc_freq("running"), 0);
}

#[test]
fn params_are_validated() {
    for (k1, b) in [
        (-0.1, 0.75),
        (f32::NAN, 0.75),
        (f32::INFINITY, 0.5),
        (1.2, 1.5),
        (1.2, -0.1),
    ] {
        let err = TextIndex::with_params(Tokenizer::new(), Bm25Params::new(k1, b)).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
    let err = Bm25Params::new(1.2, 2.0).validate().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: bm25 b must be between 0 and 1, got 2"
    );
    assert!(TextIndex::with_params(Tokenizer::new(), Bm25Params::new(0.0, 1.0)).is_ok());
}

#[test]
fn removing_everything_frees_memory() {
    let mut rng = Rng::new(3);
    let mut index = TextIndex::new(Tokenizer::new());
    let docs: Vec<String> = (0..1000).map(|_| random_doc(&mut rng, 2000, 40)).collect();
    for (id, d) in docs.iter().enumerate() {
        index.add(id as u32, d);
    }
    let full = index.memory_bytes();
    for id in 0..950 {
        assert!(index.remove(id));
    }
    assert!(
        index.memory_bytes() * 4 < full,
        "{} vs {full}",
        index.memory_bytes()
    );
    // What is left answers exactly like an index built from the survivors.
    let mut fresh = TextIndex::new(Tokenizer::new());
    for (id, d) in docs.iter().enumerate().skip(950) {
        fresh.add(id as u32, d);
    }
    for q in ["w0", "w1 w2 w3", "w5 w5 w40", "w17 w300"] {
        assert_eq!(index.search(q, 20, None), fresh.search(q, 20, None));
    }
    for id in 950..1000 {
        assert!(index.remove(id));
    }
    assert!(index.is_empty());
    assert_eq!(index.avg_doc_len(), 0.0);
    assert!(index.vocab.is_empty() && index.lists.is_empty());
    assert!(index.memory_bytes() < 4096, "{}", index.memory_bytes());
}

#[test]
fn bincode_round_trip_is_canonical() {
    let mut rng = Rng::new(8);
    let docs: Vec<String> = (0..200).map(|_| random_doc(&mut rng, 300, 30)).collect();
    let tokenizer = Tokenizer::new().english_stop_words(true).min_token_len(2);
    let mut a = TextIndex::with_params(tokenizer.clone(), Bm25Params::new(0.9, 0.4)).unwrap();
    let mut b = TextIndex::with_params(tokenizer, Bm25Params::new(0.9, 0.4)).unwrap();
    for (id, d) in docs.iter().enumerate() {
        a.add(id as u32, d);
    }
    for (id, d) in docs.iter().enumerate().rev() {
        b.add(id as u32 + 500, "zzz yyy w1 w2");
        b.add(id as u32, d);
    }
    for id in 0..200 {
        b.remove(id + 500);
    }
    let config = bincode::config::standard();
    let bytes = bincode::encode_to_vec(&a, config).unwrap();
    assert_eq!(bytes, bincode::encode_to_vec(&b, config).unwrap());
    let (c, used): (TextIndex, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(c.params(), Bm25Params::new(0.9, 0.4));
    assert_eq!(c.tokenizer(), a.tokenizer());
    assert_eq!(c.avg_doc_len(), a.avg_doc_len());
    for q in ["w1 w2 w3", "w7", "w100 w3 w3"] {
        assert_eq!(c.search(q, 15, None), a.search(q, 15, None));
    }
    // A damaged body is rejected: the tiny index "b a" ends with its one
    // document's pairs [(0, 1), (1, 1)]; make the last term number 5, past
    // the two-term vocabulary.
    let mut tiny = TextIndex::new(Tokenizer::new());
    tiny.add(1, "b a");
    let mut damaged = bincode::encode_to_vec(&tiny, config).unwrap();
    assert!(bincode::decode_from_slice::<TextIndex, _>(&damaged, config).is_ok());
    let at = damaged.len() - 2;
    assert_eq!(damaged[at..], [1, 1]);
    damaged[at] = 5;
    assert!(bincode::decode_from_slice::<TextIndex, _>(&damaged, config).is_err());
}

// --------------------------------------------------- pruned vs exhaustive

/// Words `w0, w1, ...` with a skewed (roughly Zipfian) frequency.
fn random_word(rng: &mut Rng, vocab: u64) -> String {
    let u = rng.next_f64();
    format!("w{}", ((vocab as f64) * u * u * u) as u64)
}

fn random_doc(rng: &mut Rng, vocab: u64, max_len: u64) -> String {
    let len = 1 + rng.below(max_len);
    let words: Vec<String> = (0..len).map(|_| random_word(rng, vocab)).collect();
    words.join(" ")
}

#[test]
fn pruned_bm25_equals_exhaustive_on_random_corpora() {
    let settings = [
        (1u64, Bm25Params::default()),
        (2, Bm25Params::new(0.9, 0.4).with_query_tf(false)),
        (3, Bm25Params::new(1.2, 1.0)),
        (4, Bm25Params::new(2.0, 0.0)),
        (5, Bm25Params::new(0.0, 0.75)),
    ];
    for (seed, params) in settings {
        std::println!("seed {seed} {params:?}");
        let mut rng = Rng::new(seed);
        let vocab = 500 + 300 * seed;
        let mut index = TextIndex::with_params(Tokenizer::new(), params).unwrap();
        let n = 2500u32;
        for id in 0..n {
            index.add(id, &random_doc(&mut rng, vocab, 60));
        }
        let (pw, fw) = compare(&index, &mut rng, vocab, seed);
        std::println!("  fresh: pruned scored {pw}, exhaustive {fw}");
        for _ in 0..1200 {
            index.remove(rng.below(u64::from(n)) as u32);
        }
        for _ in 0..600 {
            let id = rng.below(u64::from(n) + 300) as u32;
            index.add(id, &random_doc(&mut rng, vocab, 60));
        }
        let (pw, fw) = compare(&index, &mut rng, vocab, seed);
        std::println!("  after updates: pruned scored {pw}, exhaustive {fw}");
    }
}

fn compare(index: &TextIndex, rng: &mut Rng, vocab: u64, seed: u64) -> (usize, usize) {
    let (mut pruned_work, mut full_work) = (0, 0);
    for qi in 0..60 {
        let words = 1 + rng.below(8);
        let q: Vec<String> = (0..words).map(|_| random_word(rng, vocab)).collect();
        let q = q.join(" ");
        let k = 1 + rng.below(100) as usize;
        let modulus = 2 + rng.below(4) as u32;
        let filter = move |id: u32| id % modulus != 1;
        let f: Option<&dyn crate::Filter> = if qi % 3 == 0 { Some(&filter) } else { None };
        let (pruned, pw) = index.search_counted(&q, k, f, true);
        let (full, fw) = index.search_counted(&q, k, f, false);
        pruned_work += pw.scored;
        full_work += fw.scored;
        let ids_p: Vec<u32> = pruned.iter().map(|h| h.0).collect();
        let ids_f: Vec<u32> = full.iter().map(|h| h.0).collect();
        assert_eq!(ids_p, ids_f, "seed {seed} query {qi} {q:?} k {k}");
        for (p, e) in pruned.iter().zip(&full) {
            assert!(
                close(f64::from(p.1), f64::from(e.1), 1e-6),
                "seed {seed} {q:?}"
            );
        }
        assert!(pruned.iter().all(|h| index.contains(h.0)));
        if let Some(f) = f {
            assert!(pruned.iter().all(|h| f.allows(h.0)));
        }
    }
    (pruned_work, full_work)
}

/// On a larger corpus, top-10 BM25 queries skip a good share of the
/// postings of their terms.
#[test]
fn bm25_pruning_skips_postings() {
    let mut rng = Rng::new(77);
    let vocab = 5000;
    let mut index = TextIndex::new(Tokenizer::new());
    for id in 0..20_000u32 {
        index.add(id, &random_doc(&mut rng, vocab, 50));
    }
    let (mut pruned, mut full) = (0, 0);
    for _ in 0..50 {
        let words = 2 + rng.below(6);
        let q: Vec<String> = (0..words).map(|_| random_word(&mut rng, vocab)).collect();
        let q = q.join(" ");
        let (a, pw) = index.search_counted(&q, 10, None, true);
        let (b, fw) = index.search_counted(&q, 10, None, false);
        assert_eq!(a, b);
        pruned += pw.scored;
        full += fw.scored;
    }
    std::println!("pruned scored {pruned}, exhaustive {full}");
    assert!(pruned * 2 < full, "pruned {pruned} vs exhaustive {full}");
}
