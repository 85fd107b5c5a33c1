//! Payload updates with Qdrant's semantics (`set_payload`,
//! `overwrite_payload`, `delete_payload`, `clear_payload`), by id or by
//! filter. Payload indexes and BM25 text fields follow every change at
//! once. Keys are checked, and every new payload that can fail is worked
//! out, before anything changes: a call that errors changes nothing.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Collection, text_field};
use crate::error::{Error, Result};
use crate::payload::{Filter, KeyPath, Payload, PointId, merge_payload};

/// One payload update, applied to each point it selects.
enum Edit<'a> {
    /// Merge into the payload, or into the object at a key.
    Set(&'a Payload, Option<KeyPath>),
    /// Replace the whole payload.
    Overwrite(&'a Payload),
    /// Remove the values at these keys.
    Delete(Vec<KeyPath>),
}

fn parse_key(key: &str) -> Result<KeyPath> {
    KeyPath::parse(key)
        .map_err(|e| Error::InvalidParameter(format!("invalid payload key {key:?}: {e}")))
}

impl Edit<'_> {
    /// Only a merge at a key can fail (an array index far past the end).
    fn may_fail(&self) -> bool {
        matches!(self, Edit::Set(_, Some(_)))
    }

    /// The payload of point `id` after the edit, from `old`.
    fn apply(&self, id: &PointId, old: &Payload) -> Result<Payload> {
        Ok(match self {
            Edit::Overwrite(p) => (*p).clone(),
            Edit::Set(p, None) => {
                let mut new = old.clone();
                merge_payload(&mut new, p);
                new
            }
            Edit::Set(p, Some(key)) => {
                let mut new = old.clone();
                key.merge_into(&mut new, p).map_err(|e| {
                    Error::InvalidParameter(format!(
                        "payload key {:?} of point {id}: {e}",
                        key.as_str()
                    ))
                })?;
                new
            }
            Edit::Delete(keys) => {
                let mut new = old.clone();
                for key in keys {
                    key.remove_from(&mut new);
                }
                new
            }
        })
    }
}

impl Collection {
    /// Merges `payload` into the payload of point `id`, as Qdrant's
    /// `set_payload`: each given key replaces the point's key of that name
    /// and the others stay; a null value removes its key. With `key` (a
    /// payload key path such as `a.b` or `a[0]`), `payload` is merged into
    /// the object at that path instead, which is created where missing
    /// (values on the way that are not objects are replaced; `a[]` merges
    /// into every element of the array `a`).
    ///
    /// Returns false when no point has this id. Errors
    /// ([`Error::InvalidParameter`]) for a malformed `key`, or an array
    /// index 1024 or more past the end of the point's array; the
    /// collection is then unchanged.
    pub fn set_payload(
        &mut self,
        id: &PointId,
        payload: Payload,
        key: Option<&str>,
    ) -> Result<bool> {
        let edit = Edit::Set(&payload, key.map(parse_key).transpose()?);
        self.edit_point(id, &edit)
    }

    /// [`Collection::set_payload`] on every point matching `filter`;
    /// returns how many. If the merge fails for any of them, none changes.
    pub fn set_payload_by_filter(
        &mut self,
        filter: &Filter,
        payload: Payload,
        key: Option<&str>,
    ) -> Result<usize> {
        let edit = Edit::Set(&payload, key.map(parse_key).transpose()?);
        self.edit_matching(filter, &edit)
    }

    /// Replaces the whole payload of point `id` with `payload` (Qdrant's
    /// `overwrite_payload`; null values are kept as nulls). Returns false
    /// when no point has this id.
    pub fn overwrite_payload(&mut self, id: &PointId, payload: Payload) -> Result<bool> {
        self.edit_point(id, &Edit::Overwrite(&payload))
    }

    /// [`Collection::overwrite_payload`] on every point matching `filter`;
    /// returns how many.
    pub fn overwrite_payload_by_filter(
        &mut self,
        filter: &Filter,
        payload: Payload,
    ) -> Result<usize> {
        self.edit_matching(filter, &Edit::Overwrite(&payload))
    }

    /// Removes the values at `keys` (payload key paths, as Qdrant's
    /// `delete_payload`: `a` a top-level key, `a.b` a nested field, `a[1]`
    /// one array element, `a[]` every element, `a[].b` a field of every
    /// element) from the payload of point `id`; keys it lacks are ignored.
    /// Returns false when no point has this id. Errors
    /// ([`Error::InvalidParameter`]) for a malformed key, changing nothing.
    pub fn delete_payload_keys(&mut self, id: &PointId, keys: &[String]) -> Result<bool> {
        let edit = Edit::Delete(keys.iter().map(|k| parse_key(k)).collect::<Result<_>>()?);
        self.edit_point(id, &edit)
    }

    /// [`Collection::delete_payload_keys`] on every point matching
    /// `filter`; returns how many.
    pub fn delete_payload_keys_by_filter(
        &mut self,
        filter: &Filter,
        keys: &[String],
    ) -> Result<usize> {
        let edit = Edit::Delete(keys.iter().map(|k| parse_key(k)).collect::<Result<_>>()?);
        self.edit_matching(filter, &edit)
    }

    /// Empties the payload of point `id` (Qdrant's `clear_payload`).
    /// Returns false when no point has this id.
    pub fn clear_payload(&mut self, id: &PointId) -> Result<bool> {
        self.edit_point(id, &Edit::Overwrite(&Payload::new()))
    }

    /// [`Collection::clear_payload`] on every point matching `filter`;
    /// returns how many.
    pub fn clear_payload_by_filter(&mut self, filter: &Filter) -> Result<usize> {
        self.edit_matching(filter, &Edit::Overwrite(&Payload::new()))
    }

    fn edit_point(&mut self, id: &PointId, edit: &Edit<'_>) -> Result<bool> {
        match self.payloads.internal_id(id) {
            Some(offset) => self.edit_offsets(&[offset], edit).map(|n| n == 1),
            None => Ok(false),
        }
    }

    fn edit_matching(&mut self, filter: &Filter, edit: &Edit<'_>) -> Result<usize> {
        let offsets = self.payloads.matching(filter);
        self.edit_offsets(&offsets, edit)
    }

    /// Applies `edit` to the points at `offsets`; returns how many.
    fn edit_offsets(&mut self, offsets: &[u32], edit: &Edit<'_>) -> Result<usize> {
        if edit.may_fail() {
            // Every new payload first, so that a failure changes nothing.
            let mut staged = Vec::with_capacity(offsets.len());
            for &offset in offsets {
                if let Some((id, old)) = self.payloads.get(offset) {
                    staged.push((offset, edit.apply(id, old)?));
                }
            }
            let n = staged.len();
            for (offset, payload) in staged {
                self.replace_payload(offset, payload);
            }
            return Ok(n);
        }
        let mut n = 0;
        for &offset in offsets {
            let Some((id, old)) = self.payloads.get(offset) else {
                continue;
            };
            let payload = edit.apply(id, old)?;
            self.replace_payload(offset, payload);
            n += 1;
        }
        Ok(n)
    }

    /// Gives the point at `offset` a new payload, updating the payload
    /// indexes and every text field whose text changed.
    fn replace_payload(&mut self, offset: u32, payload: Payload) {
        let Some((_, old)) = self.payloads.get(offset) else {
            return;
        };
        for (name, index) in &mut self.text {
            let after = text_field(&payload, name);
            if text_field(old, name) != after {
                match after {
                    Some(text) => index.add(offset, text),
                    None => {
                        index.remove(offset);
                    }
                }
            }
        }
        self.payloads.replace(offset, payload);
    }
}
