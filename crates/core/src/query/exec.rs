//! Running a query tree against a collection.

use alloc::vec;
use alloc::vec::Vec;

use hashbrown::HashSet;

use crate::error::{Error, Result};
use crate::scratch::Scratch;
use crate::search::{Hit, SearchParams};

use super::fusion::{ScoredList, better, dbsf, rrf, weighted};
use super::tree::{Fusion, Prefetch, Query, QueryRequest, SparseQuery, Stage};
use crate::payload::{Filter, PointId};

/// A query vector handed to [`QuerySource::rescore`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueryVector<'a> {
    /// A dense vector.
    Dense(&'a [f32]),
    /// A sparse vector (unique indices, finite values).
    Sparse {
        /// Dimensions.
        indices: &'a [u32],
        /// Weights, one per index.
        values: &'a [f32],
    },
    /// A BM25 text query.
    Text(&'a str),
}

/// A point's stored vector, as [`QuerySource::vector_of`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredVector {
    /// A dense vector (for cosine, the normalised one).
    Dense(Vec<f32>),
    /// A sparse vector.
    Sparse(SparseQuery),
}

impl StoredVector {
    /// The vector as a query.
    pub fn as_query(&self) -> QueryVector<'_> {
        match self {
            StoredVector::Dense(v) => QueryVector::Dense(v),
            StoredVector::Sparse(s) => QueryVector::Sparse {
                indices: &s.indices,
                values: &s.values,
            },
        }
    }
}

/// What [`execute`] needs from a collection: searches, vector look-ups and
/// re-scoring. The collection implements it; the executor only combines.
///
/// `using` names the vector (or, for text, the field); `None` is the
/// default one. `filters` are all the filters that apply to a search (the
/// stage's own and every enclosing stage's): a point must match every one.
/// Returned lists carry their orientation
/// ([`ScoredList::higher_is_better`]); their order does not matter (the
/// executor sorts, ties by lower id), and they may hold fewer hits than
/// asked for.
pub trait QuerySource {
    /// The `params.k` best points for a dense vector, with `params.ef` and
    /// `params.exact` from the stage's `params`, searching with `scratch`.
    fn dense(
        &self,
        scratch: &mut Scratch,
        using: Option<&str>,
        vector: &[f32],
        filters: &[&Filter],
        params: &SearchParams,
    ) -> Result<ScoredList>;

    /// The `limit` best points for a sparse vector (dot product); points that
    /// share no index with the query need not be returned.
    fn sparse(
        &self,
        using: Option<&str>,
        indices: &[u32],
        values: &[f32],
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList>;

    /// The `limit` best points for a BM25 text query on the text field
    /// `field`.
    fn text(
        &self,
        field: Option<&str>,
        query: &str,
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList>;

    /// The stored vector `using` of point `id` (nearest-by-id queries).
    fn vector_of(&self, id: u64, using: Option<&str>) -> Result<StoredVector>;

    /// Scores exactly these candidates against `query` with the vector or
    /// text field `using`. Candidates that lack it are left out.
    fn rescore(
        &self,
        using: Option<&str>,
        query: QueryVector<'_>,
        candidates: &[u64],
    ) -> Result<ScoredList>;

    /// Maps a point id from a query to Grape's `u64` id. The default takes
    /// integer ids as they are and rejects UUIDs; a source that stores UUIDs
    /// overrides it.
    fn resolve_id(&self, id: &PointId) -> Result<u64> {
        match id {
            PointId::Num(n) => Ok(*n),
            PointId::Uuid(_) => Err(Error::InvalidQuery(alloc::format!(
                "uuid point ids are not supported here: {id}"
            ))),
        }
    }
}

/// Runs a query tree and returns its hits, best first.
///
/// After validation (errors name the field), every stage runs bottom-up:
///
/// 1. its prefetches run, each with its own limit, under its own filter and
///    those of all enclosing stages;
/// 2. its query then
///    - without prefetches, searches (dense, sparse or text) for `limit`
///      points (`offset + limit` at the root);
///    - with prefetches and a vector (or id, or text) query, re-scores the
///      union of the prefetches' candidates with it: no new search, so a
///      point none of them found cannot appear;
///    - with a fusion, fuses the prefetches' lists (fused scores: higher is
///      better);
///    - absent, with exactly one prefetch, passes that list through;
/// 3. hits not strictly better than `score_threshold` are dropped (for
///    distances, better means lower; a hit exactly at the threshold is
///    dropped), then the list is cut to `limit`.
///
/// The root finally skips `offset` hits. Points referred to by id in a
/// nearest-by-id query are excluded from every stage's results (Qdrant
/// does the same); searches fetch that many more to make up for it.
/// Scores are those of the last stage that scored: a similarity or
/// distance, or a fused score.
pub fn execute(source: &dyn QuerySource, request: &QueryRequest) -> Result<Vec<Hit>> {
    execute_with(source, &mut Scratch::new(), request)
}

/// [`execute`] reusing `scratch` for the dense searches (one per thread or
/// worker): a warm search then allocates no per-query visited marks.
pub fn execute_with(
    source: &dyn QuerySource,
    scratch: &mut Scratch,
    request: &QueryRequest,
) -> Result<Vec<Hit>> {
    request.validate()?;
    let mut excluded = HashSet::new();
    collect_ids(
        source,
        &request.prefetch,
        request.query.as_ref(),
        &mut excluded,
    )?;
    let mut run = Run {
        source,
        scratch,
        excluded,
        filters: Vec::new(),
    };
    let fetch = request.offset.saturating_add(request.limit);
    let list = run.stage(request.stage(), fetch)?;
    Ok(list
        .hits
        .into_iter()
        .skip(request.offset)
        .take(request.limit)
        .collect())
}

/// The ids of every nearest-by-id query in the tree.
fn collect_ids(
    source: &dyn QuerySource,
    prefetch: &[Prefetch],
    query: Option<&Query>,
    ids: &mut HashSet<u64>,
) -> Result<()> {
    if let Some(Query::Id(r)) = query {
        ids.insert(source.resolve_id(r)?);
    }
    for p in prefetch {
        collect_ids(source, &p.prefetch, p.query.as_ref(), ids)?;
    }
    Ok(())
}

struct Run<'a, 's> {
    source: &'a dyn QuerySource,
    scratch: &'s mut Scratch,
    excluded: HashSet<u64>,
    /// Filters of the stages from the root down to the current one.
    filters: Vec<&'a Filter>,
}

impl<'a> Run<'a, '_> {
    fn stage(&mut self, stage: Stage<'a>, limit: usize) -> Result<ScoredList> {
        let pushed = stage.filter.map(|f| self.filters.push(f)).is_some();
        let result = self.stage_inner(stage, limit);
        if pushed {
            self.filters.pop();
        }
        result
    }

    fn stage_inner(&mut self, stage: Stage<'a>, limit: usize) -> Result<ScoredList> {
        let children = stage
            .prefetch
            .iter()
            .map(|p| self.stage(p.stage(), p.limit))
            .collect::<Result<Vec<_>>>()?;
        let mut list = match stage.query {
            None => children
                .into_iter()
                .next()
                .unwrap_or_else(|| ScoredList::similarities(Vec::new())),
            Some(Query::Fusion(fusion)) => ScoredList::similarities(fuse(fusion, &children)?),
            Some(Query::Dense(v)) => self.score(&stage, QueryVector::Dense(v), &children, limit)?,
            Some(Query::Sparse(s)) => {
                let vector = QueryVector::Sparse {
                    indices: &s.indices,
                    values: &s.values,
                };
                self.score(&stage, vector, &children, limit)?
            }
            Some(Query::Text(t)) => self.score(&stage, QueryVector::Text(t), &children, limit)?,
            Some(Query::Id(point)) => {
                let id = self.source.resolve_id(point)?;
                let stored = self.source.vector_of(id, stage.using)?;
                self.score(&stage, stored.as_query(), &children, limit)?
            }
        };
        list.sort();
        let higher_is_better = list.higher_is_better;
        let excluded = &self.excluded;
        list.hits.retain(|h| {
            !excluded.contains(&h.id)
                && stage
                    .score_threshold
                    .is_none_or(|t| better(h.score, t, higher_is_better))
        });
        list.hits.truncate(limit);
        Ok(list)
    }

    /// A vector (or text) query: searches without prefetches, re-scores the
    /// union of their candidates with them.
    fn score(
        &mut self,
        stage: &Stage<'a>,
        vector: QueryVector<'_>,
        children: &[ScoredList],
        limit: usize,
    ) -> Result<ScoredList> {
        if children.is_empty() {
            self.search(stage, vector, limit)
        } else {
            self.source.rescore(stage.using, vector, &union(children))
        }
    }

    /// A leaf search, fetching extra hits to make up for excluded ids.
    fn search(
        &mut self,
        stage: &Stage<'a>,
        vector: QueryVector<'_>,
        limit: usize,
    ) -> Result<ScoredList> {
        let fetch = limit.saturating_add(self.excluded.len());
        let filters = &self.filters;
        match vector {
            QueryVector::Dense(v) => {
                let params = stage.params.copied().unwrap_or_default();
                let search = SearchParams {
                    k: fetch,
                    ef: params.hnsw_ef,
                    exact: params.exact,
                    quantization: params.quantization,
                };
                self.source
                    .dense(self.scratch, stage.using, v, filters, &search)
            }
            QueryVector::Sparse { indices, values } => {
                self.source
                    .sparse(stage.using, indices, values, filters, fetch)
            }
            QueryVector::Text(t) => self.source.text(stage.using, t, filters, fetch),
        }
    }
}

fn fuse(fusion: &Fusion, lists: &[ScoredList]) -> Result<Vec<Hit>> {
    match fusion {
        Fusion::Rrf { k, weights } => rrf(lists, *k, weights.as_deref()),
        Fusion::Dbsf => dbsf(lists),
        Fusion::Weighted { weights } => match weights {
            Some(w) => weighted(lists, w),
            None => weighted(lists, &vec![1.0; lists.len()]),
        },
    }
}

/// The distinct ids of all lists, ascending.
fn union(lists: &[ScoredList]) -> Vec<u64> {
    let mut ids: Vec<u64> = lists
        .iter()
        .flat_map(|l| l.hits.iter().map(|h| h.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
