//! Collection aliases (Qdrant's `/collections/aliases`): other names for a
//! collection, kept in redb's `aliases` table (alias → collection name).
//! Every change is one transaction; deleting a collection through
//! [`Database::delete_aliases_of`] drops its aliases.

use std::sync::PoisonError;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::db::Database;
use crate::error::{Error, Result};
use crate::mutation::Mark;

/// Alias name -> collection name.
pub(crate) const ALIASES: TableDefinition<&str, &str> = TableDefinition::new("aliases");

/// Longest alias name accepted.
const MAX_ALIAS_LEN: usize = 255;

/// One change to the aliases, as in Qdrant's `actions` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasOp {
    /// Makes `alias` name `collection` (re-pointing it if it exists).
    Create {
        /// The new name.
        alias: String,
        /// The collection it names; must exist.
        collection: String,
    },
    /// Removes `alias`; an error if there is none.
    Delete {
        /// The alias to remove.
        alias: String,
    },
    /// Renames alias `from` to `to` (re-pointing `to` if it exists).
    Rename {
        /// The existing alias.
        from: String,
        /// Its new name.
        to: String,
    },
}

pub(crate) fn check_alias(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_ALIAS_LEN || name.contains(['/', '\0']) {
        return Err(Error::InvalidName {
            name: name.to_string(),
            reason: "an alias must be 1 to 255 bytes without '/' or NUL",
        });
    }
    Ok(())
}

impl Database {
    /// Applies alias changes in order, all or nothing (one transaction).
    ///
    /// Errors: a `Create` naming an unknown collection
    /// ([`Error::UnknownCollection`]) or an alias that is the name of a
    /// collection ([`Error::AlreadyExists`]); a `Delete` or `Rename` of an
    /// unknown alias ([`Error::UnknownAlias`]). On error nothing changes.
    pub fn update_aliases(&self, ops: &[AliasOp]) -> Result<()> {
        self.update_aliases_marked(ops, &Mark::none())
    }

    /// [`Database::update_aliases`], committing `mark` with the change.
    pub(crate) fn update_aliases_marked(&self, ops: &[AliasOp], mark: &Mark<'_>) -> Result<()> {
        let inner = &self.inner;
        let _catalogue = inner
            .catalogue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inner.check_open()?;
        let db = inner.redb()?;
        let txn = inner.begin_write(&db)?;
        {
            let mut table = txn.open_table(ALIASES)?;
            for op in ops {
                match op {
                    AliasOp::Create { alias, collection } => {
                        check_alias(alias)?;
                        if self.collection_exists(alias)? {
                            return Err(Error::AlreadyExists(alias.clone()));
                        }
                        if !self.collection_exists(collection)? {
                            return Err(Error::UnknownCollection(collection.clone()));
                        }
                        table.insert(alias.as_str(), collection.as_str())?;
                    }
                    AliasOp::Delete { alias } => {
                        if table.remove(alias.as_str())?.is_none() {
                            return Err(Error::UnknownAlias(alias.clone()));
                        }
                    }
                    AliasOp::Rename { from, to } => {
                        check_alias(to)?;
                        if self.collection_exists(to)? {
                            return Err(Error::AlreadyExists(to.clone()));
                        }
                        let target = match table.remove(from.as_str())? {
                            Some(t) => t.value().to_string(),
                            None => return Err(Error::UnknownAlias(from.clone())),
                        };
                        table.insert(to.as_str(), target.as_str())?;
                    }
                }
            }
        }
        mark.stage(&txn)?;
        // Returning early above drops (aborts) the transaction.
        txn.commit()?;
        mark.committed();
        Ok(())
    }

    /// The collection that alias `alias` names, if it is one.
    pub fn resolve_alias(&self, alias: &str) -> Result<Option<String>> {
        self.inner.check_open()?;
        let db = self.inner.redb()?;
        let read = db.begin_read()?;
        let table = match read.open_table(ALIASES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(alias)?.map(|v| v.value().to_string()))
    }

    /// Every alias with its collection, sorted by alias.
    pub fn list_aliases(&self) -> Result<Vec<(String, String)>> {
        self.inner.check_open()?;
        let db = self.inner.redb()?;
        let read = db.begin_read()?;
        let table = match read.open_table(ALIASES) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in table.iter()? {
            let (a, c) = item?;
            out.push((a.value().to_string(), c.value().to_string()));
        }
        Ok(out)
    }

    /// Removes every alias of collection `collection`; returns how many.
    /// (Call it after deleting the collection, as Qdrant drops them too.)
    pub fn delete_aliases_of(&self, collection: &str) -> Result<usize> {
        let inner = &self.inner;
        let _catalogue = inner
            .catalogue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<String> = self
            .list_aliases()?
            .into_iter()
            .filter(|(_, c)| c == collection)
            .map(|(a, _)| a)
            .collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let db = inner.redb()?;
        let txn = inner.begin_write(&db)?;
        {
            let mut table = txn.open_table(ALIASES)?;
            for a in &doomed {
                table.remove(a.as_str())?;
            }
        }
        txn.commit()?;
        Ok(doomed.len())
    }

    /// The parsed configuration of collection `name` (also for collections
    /// restored from a snapshot, which have no create-collection JSON).
    pub fn collection_config(&self, name: &str) -> Result<grape_core::CollectionConfig> {
        let h = self.inner.handle(name)?;
        let c = h.state.read().unwrap_or_else(PoisonError::into_inner);
        Ok(c.config().clone())
    }
}
