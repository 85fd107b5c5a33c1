//! BM25 full-text index on the sparse posting machinery.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};
use hashbrown::HashMap;

use super::tokenizer::Tokenizer;
use crate::error::{Error, Result};
use crate::search::Filter;
use crate::sparse::engine::{self, Bounds, Scorer, Work};
use crate::sparse::postings::{Posting, PostingList};
use crate::sparse::{idf, shrink_map};

/// BM25 parameters.
///
/// The score of document `d` for query `q` is the sum over the query's
/// terms `t` found in `d` of
///
/// `w(t) · idf(t) · tf · (k1 + 1) / (tf + k1 · (1 − b + b · dl / avgdl))`
///
/// with `tf` the term's count in `d`, `dl` the document's length in terms
/// (after the tokenizer), `avgdl` the mean length over the live documents,
/// `idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))` from the live collection,
/// and `w(t)` the term's count in the query when `query_tf` is on (bm25s
/// and Lucene sum over the query's terms with repeats), 1 otherwise. Lucene
/// and bm25s omit the constant factor `k1 + 1`: their scores are ours
/// divided by `k1 + 1`, with the same ranking.
#[derive(Debug, Clone, Copy, PartialEq, Encode, Decode)]
pub struct Bm25Params {
    /// Term-frequency saturation, finite and `>= 0` (default 1.2).
    pub k1: f32,
    /// Length normalisation, in `[0, 1]` (default 0.75).
    pub b: f32,
    /// Weight each query term by its count in the query (default true).
    pub query_tf: bool,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params {
            k1: 1.2,
            b: 0.75,
            query_tf: true,
        }
    }
}

impl Bm25Params {
    /// `k1` and `b`, with `query_tf` on.
    pub fn new(k1: f32, b: f32) -> Self {
        Bm25Params {
            k1,
            b,
            query_tf: true,
        }
    }

    /// Sets `query_tf`: false counts each distinct query term once.
    pub fn with_query_tf(mut self, on: bool) -> Self {
        self.query_tf = on;
        self
    }

    /// Checks the ranges; [`Error::InvalidConfig`] names the bad value.
    pub fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(Error::InvalidConfig(format!(
                "bm25 k1 must be finite and at least 0, got {}",
                self.k1
            )));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(Error::InvalidConfig(format!(
                "bm25 b must be between 0 and 1, got {}",
                self.b
            )));
        }
        Ok(())
    }
}

/// A term's posting in one document: its count and the document's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TermHit {
    tf: u32,
    dl: u32,
}

/// Statistics: the largest `tf` and the smallest `dl` among the postings,
/// which together bound BM25 (increasing in `tf`, decreasing in `dl`).
impl Posting for TermHit {
    type Stats = (u32, u32);
    const EMPTY_STATS: (u32, u32) = (0, u32::MAX);
    const TOMBSTONE: TermHit = TermHit { tf: 0, dl: 0 };

    fn is_dead(&self) -> bool {
        self.tf == 0
    }

    fn widen(stats: &mut (u32, u32), hit: TermHit) {
        stats.0 = stats.0.max(hit.tf);
        stats.1 = stats.1.min(hit.dl);
    }
}

/// BM25 with the per-query constants folded: contribution
/// `w · tf · (k1 + 1) / (tf + a + c · dl)`, `a = k1 (1 − b)`,
/// `c = k1 b / avgdl`, `w` = idf × query weight.
struct Bm25Scorer {
    weights: Vec<f32>,
    k1p1: f32,
    a: f32,
    c: f32,
}

impl Scorer<TermHit> for Bm25Scorer {
    #[inline]
    fn score(&self, term: usize, hit: TermHit) -> f32 {
        let tf = hit.tf as f32;
        self.weights[term] * tf * self.k1p1 / (tf + self.a + self.c * hit.dl as f32)
    }

    fn bounds(&self, term: usize, &(max_tf, min_dl): &(u32, u32)) -> Bounds {
        let tf = f64::from(max_tf);
        let upper = f64::from(self.weights[term]) * tf * f64::from(self.k1p1)
            / (tf + f64::from(self.a) + f64::from(self.c) * f64::from(min_dl));
        Bounds {
            upper,
            magnitude: upper.abs(),
        }
    }
}

/// One indexed document: its terms (list slots) with counts, and length.
#[derive(Debug, Clone)]
struct Doc {
    terms: Vec<(u32, u32)>,
    len: u32,
}

/// A BM25 full-text index keyed by internal id.
///
/// It keeps every document's length and the mean length itself, and
/// computes IDF from the live documents, so adds and removes keep scores
/// exact (Qdrant asks clients to supply the mean length). A query is
/// tokenized like the documents and searched as a sparse query on the same
/// posting lists and pruning engine as [`SparseIndex`](crate::sparse::SparseIndex).
///
/// ```
/// use grape_core::text::{TextIndex, Tokenizer};
///
/// let mut index = TextIndex::new(Tokenizer::new().english_stop_words(true));
/// index.add(1, "The quick brown fox");
/// index.add(2, "A lazy dog sleeps all day");
/// index.add(3, "The fox and the dog");
/// let hits = index.search("quick fox", 10, None);
/// assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 3]);
/// ```
#[derive(Debug, Clone)]
pub struct TextIndex {
    tokenizer: Tokenizer,
    params: Bm25Params,
    /// Term → slot in `lists` and `terms`.
    pub(super) vocab: HashMap<String, u32>,
    /// Slot → term (empty for a free slot).
    terms: Vec<String>,
    pub(super) lists: Vec<PostingList<TermHit>>,
    free: Vec<u32>,
    docs: HashMap<u32, Doc>,
    /// Sum of the live documents' lengths.
    total_len: u64,
}

impl TextIndex {
    /// An empty index with `tokenizer` and default BM25 parameters
    /// (k1 = 1.2, b = 0.75, query terms weighted by their count).
    pub fn new(tokenizer: Tokenizer) -> Self {
        TextIndex {
            tokenizer,
            params: Bm25Params::default(),
            vocab: HashMap::new(),
            terms: Vec::new(),
            lists: Vec::new(),
            free: Vec::new(),
            docs: HashMap::new(),
            total_len: 0,
        }
    }

    /// An empty index with `tokenizer` and `params`; fails with
    /// [`Error::InvalidConfig`] if `params` are out of range.
    pub fn with_params(tokenizer: Tokenizer, params: Bm25Params) -> Result<Self> {
        params.validate()?;
        let mut index = TextIndex::new(tokenizer);
        index.params = params;
        Ok(index)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The BM25 parameters.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Number of documents (the `N` of IDF).
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when there is no document.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Whether `id` has a document here.
    pub fn contains(&self, id: u32) -> bool {
        self.docs.contains_key(&id)
    }

    /// Length in terms (after the tokenizer) of the document of `id`.
    pub fn doc_len(&self, id: u32) -> Option<u32> {
        self.docs.get(&id).map(|d| d.len)
    }

    /// Mean document length over the live documents (0 when empty).
    pub fn avg_doc_len(&self) -> f64 {
        if self.docs.is_empty() {
            0.0
        } else {
            self.total_len as f64 / self.docs.len() as f64
        }
    }

    /// Number of documents containing `term` (a term as the tokenizer
    /// produces it, e.g. lower case).
    pub fn doc_freq(&self, term: &str) -> usize {
        self.vocab
            .get(term)
            .map_or(0, |&slot| self.lists[slot as usize].live())
    }

    /// IDF of `term` from the live collection,
    /// `ln(1 + (N − df + 0.5) / (df + 0.5))`.
    pub fn idf(&self, term: &str) -> f32 {
        idf(self.len(), self.doc_freq(term))
    }

    /// Indexes `text` as the document of `id`, replacing any previous one.
    /// A text without terms is still a document (of length 0): it counts
    /// in `N` and the mean length but matches nothing.
    pub fn add(&mut self, id: u32, text: &str) {
        let mut tokens = self.tokenizer.tokenize(text);
        let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        tokens.sort_unstable();
        self.remove(id);
        let mut terms: Vec<(u32, u32)> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let j = i + tokens[i..].iter().take_while(|t| **t == tokens[i]).count();
            let tf = u32::try_from(j - i).unwrap_or(u32::MAX);
            let slot = self.slot_for(&tokens[i]);
            self.lists[slot as usize].insert(id, TermHit { tf, dl: len });
            terms.push((slot, tf));
            i = j;
        }
        self.total_len += u64::from(len);
        self.docs.insert(id, Doc { terms, len });
    }

    /// Removes the document of `id`; false if there was none.
    pub fn remove(&mut self, id: u32) -> bool {
        let Some(doc) = self.docs.remove(&id) else {
            return false;
        };
        self.total_len -= u64::from(doc.len);
        for &(slot, _) in &doc.terms {
            let list = &mut self.lists[slot as usize];
            list.remove(id);
            if list.live() == 0 {
                *list = PostingList::new();
                let term = core::mem::take(&mut self.terms[slot as usize]);
                self.vocab.remove(&term);
                self.free.push(slot);
            }
        }
        self.trim_slots();
        shrink_map(&mut self.docs);
        shrink_map(&mut self.vocab);
        true
    }

    /// Exact top-`k` documents for `query` by BM25, best first, ties by
    /// lower id; only documents containing a query term are candidates.
    /// An empty query, or one whose terms are all stop words or unknown,
    /// returns nothing. Pruned with MaxScore.
    pub fn search(&self, query: &str, k: usize, filter: Option<&dyn Filter>) -> Vec<(u32, f32)> {
        let (lists, scorer) = self.prepare(query);
        engine::top_k_pruned(&lists, &scorer, k, filter, &mut Work::default())
    }

    /// The same result as [`search`](Self::search), scoring every posting
    /// of the query's terms: the reference for the pruned search.
    pub fn search_exhaustive(
        &self,
        query: &str,
        k: usize,
        filter: Option<&dyn Filter>,
    ) -> Vec<(u32, f32)> {
        let (lists, scorer) = self.prepare(query);
        engine::top_k_exhaustive(&lists, &scorer, k, filter, &mut Work::default())
    }

    /// Either search with work counters.
    #[cfg(test)]
    pub(crate) fn search_counted(
        &self,
        query: &str,
        k: usize,
        filter: Option<&dyn Filter>,
        pruned: bool,
    ) -> (Vec<(u32, f32)>, Work) {
        let (lists, scorer) = self.prepare(query);
        let mut work = Work::default();
        let hits = if pruned {
            engine::top_k_pruned(&lists, &scorer, k, filter, &mut work)
        } else {
            engine::top_k_exhaustive(&lists, &scorer, k, filter, &mut work)
        };
        (hits, work)
    }

    /// Approximate heap bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        let lists: usize = self.lists.iter().map(PostingList::heap_bytes).sum();
        let terms: usize = self.terms.iter().map(String::capacity).sum();
        let docs: usize = self.docs.values().map(|d| d.terms.capacity() * 8).sum();
        lists
            + terms
            + docs
            + self.lists.capacity() * core::mem::size_of::<PostingList<TermHit>>()
            + self.terms.capacity() * core::mem::size_of::<String>()
            + self.free.capacity() * 4
            + self.vocab.capacity() * (core::mem::size_of::<(String, u32)>() + 1)
            + self.docs.capacity() * (core::mem::size_of::<(u32, Doc)>() + 1)
    }

    /// The slot of `term`, allocated if new.
    fn slot_for(&mut self, term: &str) -> u32 {
        if let Some(&slot) = self.vocab.get(term) {
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.terms[slot as usize] = term.into();
                slot
            }
            None => {
                self.terms.push(term.into());
                self.lists.push(PostingList::new());
                (self.terms.len() - 1) as u32
            }
        };
        self.vocab.insert(term.into(), slot);
        slot
    }

    /// Keeps the slot arrays proportional to the vocabulary: drops free
    /// slots at the end, and renumbers the live slots once more than half
    /// are free (amortised: that takes as many removals as slots moved).
    fn trim_slots(&mut self) {
        while self.terms.last().is_some_and(String::is_empty) {
            self.terms.pop();
            self.lists.pop();
        }
        if self.free.iter().any(|&s| s as usize >= self.terms.len()) {
            let end = self.terms.len() as u32;
            self.free.retain(|&s| s < end);
        }
        if self.free.len() > 32 && self.free.len() * 2 > self.terms.len() {
            self.renumber_slots();
        }
        if self.terms.capacity() > 2 * self.terms.len() + 16 {
            self.terms.shrink_to_fit();
            self.lists.shrink_to_fit();
            self.free.shrink_to_fit();
        }
    }

    /// Moves the live slots to the front, in order, and rewrites every
    /// reference to them.
    fn renumber_slots(&mut self) {
        let mut new_slot = alloc::vec![u32::MAX; self.terms.len()];
        let mut next = 0u32;
        for (old, term) in self.terms.iter().enumerate() {
            if !term.is_empty() {
                new_slot[old] = next;
                next += 1;
            }
        }
        let terms = core::mem::take(&mut self.terms);
        let lists = core::mem::take(&mut self.lists);
        for (term, list) in terms.into_iter().zip(lists) {
            if !term.is_empty() {
                self.terms.push(term);
                self.lists.push(list);
            }
        }
        for slot in self.vocab.values_mut() {
            *slot = new_slot[*slot as usize];
        }
        for doc in self.docs.values_mut() {
            for entry in &mut doc.terms {
                entry.0 = new_slot[entry.0 as usize];
            }
        }
        self.free.clear();
    }

    /// The query's posting lists and scorer, terms in sorted order (the
    /// canonical order); no lists when nothing matches.
    fn prepare(&self, query: &str) -> (Vec<&PostingList<TermHit>>, Bm25Scorer) {
        let mut tokens = self.tokenizer.tokenize(query);
        tokens.sort_unstable();
        let n = self.docs.len();
        let mut lists = Vec::new();
        let mut weights = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let j = i + tokens[i..].iter().take_while(|t| **t == tokens[i]).count();
            if let Some(&slot) = self.vocab.get(tokens[i].as_str()) {
                let list = &self.lists[slot as usize];
                let count = if self.params.query_tf {
                    (j - i) as f32
                } else {
                    1.0
                };
                weights.push(idf(n, list.live()) * count);
                lists.push(list);
            }
            i = j;
        }
        let Bm25Params { k1, b, .. } = self.params;
        // avgdl > 0 whenever a list exists; guard the empty case anyway.
        let avgdl = self.avg_doc_len().max(f64::MIN_POSITIVE);
        let scorer = Bm25Scorer {
            weights,
            k1p1: k1 + 1.0,
            a: k1 * (1.0 - b),
            c: (f64::from(k1) * f64::from(b) / avgdl) as f32,
        };
        (lists, scorer)
    }
}

/// Body: tokenizer, parameters, the vocabulary (sorted), then the documents
/// sorted by id, each as `(term number, count)` pairs sorted by term
/// number. Posting lists, lengths and slots are rebuilt on decode, so equal
/// contents always encode to equal bytes.
impl Encode for TextIndex {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> core::result::Result<(), EncodeError> {
        self.tokenizer.encode(encoder)?;
        self.params.encode(encoder)?;
        let mut vocab: Vec<(&str, u32)> =
            self.vocab.iter().map(|(t, &s)| (t.as_str(), s)).collect();
        vocab.sort_unstable();
        let mut number = alloc::vec![u32::MAX; self.terms.len()];
        for (i, &(_, slot)) in vocab.iter().enumerate() {
            number[slot as usize] = i as u32;
        }
        (vocab.len() as u64).encode(encoder)?;
        for (term, _) in &vocab {
            term.encode(encoder)?;
        }
        let mut ids: Vec<u32> = self.docs.keys().copied().collect();
        ids.sort_unstable();
        (ids.len() as u64).encode(encoder)?;
        let mut terms: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            id.encode(encoder)?;
            terms.clear();
            terms.extend(
                self.docs[&id]
                    .terms
                    .iter()
                    .map(|&(slot, tf)| (number[slot as usize], tf)),
            );
            terms.sort_unstable();
            terms.encode(encoder)?;
        }
        Ok(())
    }
}

impl<Ctx> Decode<Ctx> for TextIndex {
    fn decode<D: Decoder<Context = Ctx>>(
        decoder: &mut D,
    ) -> core::result::Result<Self, DecodeError> {
        let corrupt = |what: String| DecodeError::OtherString(format!("text index: {what}"));
        let tokenizer = Tokenizer::decode(decoder)?;
        let params = Bm25Params::decode(decoder)?;
        params.validate().map_err(|e| corrupt(format!("{e}")))?;
        let mut index =
            TextIndex::with_params(tokenizer, params).map_err(|e| corrupt(format!("{e}")))?;
        let vocab_len = u64::decode(decoder)?;
        let mut vocab: Vec<String> = Vec::new();
        for _ in 0..vocab_len {
            let term = String::decode(decoder)?;
            if term.is_empty() || vocab.last().is_some_and(|last| *last >= term) {
                return Err(corrupt(format!(
                    "vocabulary not sorted or empty term at {}",
                    vocab.len()
                )));
            }
            vocab.push(term);
        }
        let mut slots: Vec<Option<u32>> = alloc::vec![None; vocab.len()];
        let doc_count = u64::decode(decoder)?;
        let mut previous: Option<u32> = None;
        for _ in 0..doc_count {
            let id = u32::decode(decoder)?;
            if previous.is_some_and(|p| p >= id) {
                return Err(corrupt(format!(
                    "document ids not strictly increasing at id {id}"
                )));
            }
            previous = Some(id);
            let pairs: Vec<(u32, u32)> = Vec::decode(decoder)?;
            let mut len: u64 = 0;
            for (i, &(term, tf)) in pairs.iter().enumerate() {
                if term as usize >= vocab.len() || tf == 0 || (i > 0 && pairs[i - 1].0 >= term) {
                    return Err(corrupt(format!("document {id}: bad term entry {i}")));
                }
                len += u64::from(tf);
            }
            let len =
                u32::try_from(len).map_err(|_| corrupt(format!("document {id}: too long")))?;
            let mut terms = Vec::with_capacity(pairs.len());
            for (term, tf) in pairs {
                let slot = match slots[term as usize] {
                    Some(slot) => slot,
                    None => {
                        let slot = index.slot_for(&vocab[term as usize]);
                        slots[term as usize] = Some(slot);
                        slot
                    }
                };
                index.lists[slot as usize].insert(id, TermHit { tf, dl: len });
                terms.push((slot, tf));
            }
            index.total_len += u64::from(len);
            index.docs.insert(id, Doc { terms, len });
        }
        if slots.iter().any(Option::is_none) {
            return Err(corrupt("vocabulary holds a term no document uses".into()));
        }
        Ok(index)
    }
}

bincode::impl_borrow_decode!(TextIndex);
