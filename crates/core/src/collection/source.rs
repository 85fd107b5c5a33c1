//! The collection as a [`QuerySource`]: searches and re-scoring over its
//! indexes, with payload filters evaluated on point offsets.

use alloc::vec::Vec;

use super::Collection;
use crate::error::{Error, Result};
use crate::hnsw::Hnsw;
use crate::payload::{Filter, Matcher, PointId};
use crate::query::{QuerySource, QueryVector, ScoredList, SparseQuery, StoredVector};
use crate::search::{Hit, SearchParams};
use crate::sparse::{Modifier, SparseVector};
use crate::{Scratch, VectorIndex};

/// All filters of a search stage, over point offsets.
struct Offsets<'a> {
    matchers: Vec<Matcher<'a>>,
}

impl crate::Filter for Offsets<'_> {
    fn allows(&self, offset: u32) -> bool {
        self.matchers
            .iter()
            .all(|m| crate::Filter::allows(m, offset))
    }
    fn cardinality(&self) -> Option<usize> {
        self.matchers
            .iter()
            .filter_map(crate::Filter::cardinality)
            .min()
    }
}

/// The same filter over an HNSW index's internal ids (keys are offsets).
struct BySlot<'a> {
    index: &'a Hnsw,
    offsets: &'a Offsets<'a>,
}

impl crate::Filter for BySlot<'_> {
    fn allows(&self, slot: u32) -> bool {
        self.index
            .external_id(slot)
            .is_some_and(|key| crate::Filter::allows(self.offsets, key as u32))
    }
    fn cardinality(&self) -> Option<usize> {
        crate::Filter::cardinality(self.offsets)
    }
}

fn unknown(kind: &str, name: Option<&str>) -> Error {
    Error::InvalidQuery(alloc::format!("unknown {kind} {:?}", name.unwrap_or("")))
}

impl Collection {
    fn offsets<'a>(&'a self, filters: &[&'a Filter]) -> Option<Offsets<'a>> {
        (!filters.is_empty()).then(|| Offsets {
            matchers: filters.iter().map(|f| self.payloads.matcher(f)).collect(),
        })
    }

    fn dense_index(&self, using: Option<&str>) -> Result<&Hnsw> {
        self.dense
            .get(using.unwrap_or(""))
            .ok_or_else(|| unknown("dense vector", using))
    }

    /// The text field a query names, or the only one when it names none.
    fn text_index(&self, field: Option<&str>) -> Result<&crate::text::TextIndex> {
        let found = match field {
            Some(f) => self.text.get(f),
            None if self.text.len() == 1 => self.text.values().next(),
            None => None,
        };
        found.ok_or_else(|| unknown("text field", field))
    }
}

fn hits(found: Vec<(u32, f32)>) -> Vec<Hit> {
    found
        .into_iter()
        .map(|(o, score)| Hit {
            id: u64::from(o),
            score,
        })
        .collect()
}

impl QuerySource for Collection {
    fn dense(
        &self,
        scratch: &mut Scratch,
        using: Option<&str>,
        vector: &[f32],
        filters: &[&Filter],
        params: &SearchParams,
    ) -> Result<ScoredList> {
        let index = self.dense_index(using)?;
        let offsets = self.offsets(filters);
        let by_slot = offsets.as_ref().map(|offsets| BySlot { index, offsets });
        let filter = by_slot.as_ref().map(|f| f as &dyn crate::Filter);
        let found = index.search_with(scratch, vector, params, filter)?;
        Ok(ScoredList {
            hits: found,
            higher_is_better: index.metric().higher_is_better(),
        })
    }

    fn sparse(
        &self,
        using: Option<&str>,
        indices: &[u32],
        values: &[f32],
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList> {
        let index = self
            .sparse
            .get(using.unwrap_or(""))
            .ok_or_else(|| unknown("sparse vector", using))?;
        let query = SparseVector::new(indices.to_vec(), values.to_vec())?;
        let offsets = self.offsets(filters);
        let filter = offsets.as_ref().map(|f| f as &dyn crate::Filter);
        Ok(ScoredList::similarities(hits(
            index.search(&query, limit, filter)?,
        )))
    }

    fn text(
        &self,
        field: Option<&str>,
        query: &str,
        filters: &[&Filter],
        limit: usize,
    ) -> Result<ScoredList> {
        let index = self.text_index(field)?;
        let offsets = self.offsets(filters);
        let filter = offsets.as_ref().map(|f| f as &dyn crate::Filter);
        Ok(ScoredList::similarities(hits(
            index.search(query, limit, filter),
        )))
    }

    fn vector_of(&self, id: u64, using: Option<&str>) -> Result<StoredVector> {
        let missing = || {
            Error::InvalidQuery(alloc::format!(
                "point has no vector {:?}",
                using.unwrap_or("")
            ))
        };
        if let Some(index) = self.dense.get(using.unwrap_or("")) {
            return index
                .vector(id)
                .map(|v| StoredVector::Dense(v.to_vec()))
                .ok_or_else(missing);
        }
        let index = self
            .sparse
            .get(using.unwrap_or(""))
            .ok_or_else(|| unknown("vector", using))?;
        let v = u32::try_from(id)
            .ok()
            .and_then(|o| index.get(o))
            .ok_or_else(missing)?;
        Ok(StoredVector::Sparse(SparseQuery {
            indices: v.indices.clone(),
            values: v.values.clone(),
        }))
    }

    fn rescore(
        &self,
        using: Option<&str>,
        query: QueryVector<'_>,
        candidates: &[u64],
    ) -> Result<ScoredList> {
        let offsets = candidates.iter().filter_map(|&c| u32::try_from(c).ok());
        match query {
            QueryVector::Dense(v) => {
                let index = self.dense_index(using)?;
                let metric = index.metric();
                let mut q = Vec::new();
                metric.prepare_into(index.dim(), v, &mut q)?;
                let found = offsets
                    .filter_map(|o| {
                        let stored = index.vector(u64::from(o))?;
                        Some(Hit {
                            id: u64::from(o),
                            score: metric.score(metric.distance(&q, stored)),
                        })
                    })
                    .collect();
                Ok(ScoredList {
                    hits: found,
                    higher_is_better: metric.higher_is_better(),
                })
            }
            QueryVector::Sparse { indices, values } => {
                let index = self
                    .sparse
                    .get(using.unwrap_or(""))
                    .ok_or_else(|| unknown("sparse vector", using))?;
                let mut query = SparseVector::new(indices.to_vec(), values.to_vec())?;
                if index.modifier() == Modifier::Idf {
                    let weighted: Vec<f32> = query.iter().map(|(i, w)| w * index.idf(i)).collect();
                    query = SparseVector::new(query.indices.clone(), weighted)?;
                }
                let found = offsets
                    .filter_map(|o| {
                        index.get(o).map(|v| Hit {
                            id: u64::from(o),
                            score: query.dot(v),
                        })
                    })
                    .collect();
                Ok(ScoredList::similarities(found))
            }
            QueryVector::Text(text) => {
                let index = self.text_index(using)?;
                let set: hashbrown::HashSet<u32> = offsets.collect();
                let only = |o: u32| set.contains(&o);
                Ok(ScoredList::similarities(hits(index.search(
                    text,
                    set.len(),
                    Some(&only),
                ))))
            }
        }
    }

    fn resolve_id(&self, id: &PointId) -> Result<u64> {
        self.payloads
            .internal_id(id)
            .map(u64::from)
            .ok_or_else(|| Error::InvalidQuery(alloc::format!("point {id} not found")))
    }
}
