//! [`Mutation`]: every change of a [`Database`] as a value, with Grape's own
//! versioned byte encoding, so that a replicated log (grape-cluster's Raft
//! state machine) or a single-node server can apply changes in order.
//!
//! [`Database::apply_marked`] commits an opaque *applied mark* (the state
//! machine's last-applied log id and membership) in the same redb
//! transaction as the change, into the `raft` table under `applied`; a
//! replay after a crash skips what the mark says is in. [`Database::export_all`]
//! and [`Database::import_all`] move the whole content with its mark (Raft
//! snapshots).
//!
//! Encoded mutation layout (version 1): `GRMU` magic (4 bytes), version
//! `u8`, CRC-32 of the body `u32` little-endian, then the bincode-2
//! (standard configuration) body: a private `WireMutation` enum whose
//! variant order is part of the format (new variants go last). Points use
//! the record encoding of `record.rs` (payload JSON LZ4-compressed),
//! filters, payloads and configurations are JSON text. The export blob has
//! the same header with magic `GREX`.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use grape_core::payload::{FieldSchema, Filter, Payload, PointId};
use grape_core::{Collection, PointData};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde_json::Value;
use tracing::warn;

use crate::aliases::{ALIASES, AliasOp, check_alias};
use crate::asynch::AsyncDatabase;
use crate::db::{
    CATALOGUE, Database, Edit, Handle, META, NEXT_UID, SEQ, WriterState, check_name, lock,
    points_def, points_table, read, stored_config, write,
};
use crate::error::{Error, Result};
use crate::index_file;
use crate::record::{PayloadSizes, StoredCollection, decode_point, encode_point, id_key, key_id};
use crate::types::PointSelector;

/// The state machine's table: `applied` -> the applied mark.
const RAFT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft");
const APPLIED: &str = "applied";

const MUTATION_MAGIC: &[u8; 4] = b"GRMU";
const MUTATION_VERSION: u8 = 1;
const EXPORT_MAGIC: &[u8; 4] = b"GREX";
const EXPORT_VERSION: u8 = 1;
/// Magic, version, CRC-32.
const HEADER: usize = 9;

/// One change of a [`Database`], as the direct call that makes it takes it.
/// Applied by [`Database::apply`] / [`Database::apply_marked`]; carried in
/// a log by [`Mutation::encode`] / [`Mutation::decode`].
///
/// Names are collection names, never aliases: resolve aliases first.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// [`Database::create_collection`].
    CreateCollection {
        /// The new collection.
        name: String,
        /// Qdrant's create-collection JSON (plus Grape's `text_fields`).
        config: Value,
    },
    /// [`Database::delete_collection`] (its aliases stay: delete them with
    /// [`Mutation::UpdateAliases`]).
    DeleteCollection {
        /// The collection.
        name: String,
    },
    /// [`Database::upsert`].
    Upsert {
        /// The collection.
        collection: String,
        /// The points, inserted or replaced.
        points: Vec<PointData>,
    },
    /// [`Database::delete`] for [`PointSelector::Ids`],
    /// [`Database::delete_by_filter`] for [`PointSelector::Filter`].
    DeletePoints {
        /// The collection.
        collection: String,
        /// The points.
        selector: PointSelector,
    },
    /// [`Database::set_payload`].
    SetPayload {
        /// The collection.
        collection: String,
        /// The points.
        selector: PointSelector,
        /// Merged into their payloads.
        payload: Payload,
        /// The key path of the object to merge into, if not the root.
        key: Option<String>,
    },
    /// [`Database::overwrite_payload`].
    OverwritePayload {
        /// The collection.
        collection: String,
        /// The points.
        selector: PointSelector,
        /// Their new payload.
        payload: Payload,
    },
    /// [`Database::delete_payload_keys`].
    DeletePayload {
        /// The collection.
        collection: String,
        /// The points.
        selector: PointSelector,
        /// Payload key paths to remove.
        keys: Vec<String>,
    },
    /// [`Database::clear_payload`].
    ClearPayload {
        /// The collection.
        collection: String,
        /// The points.
        selector: PointSelector,
    },
    /// [`Database::create_payload_index`].
    CreatePayloadIndex {
        /// The collection.
        collection: String,
        /// The payload key path.
        field: String,
        /// The index type.
        schema: FieldSchema,
    },
    /// [`Database::delete_payload_index`].
    DeletePayloadIndex {
        /// The collection.
        collection: String,
        /// The payload key path.
        field: String,
    },
    /// [`Database::update_aliases`].
    UpdateAliases {
        /// The changes, applied in order, all or nothing.
        ops: Vec<AliasOp>,
    },
    /// [`Database::restore`].
    RestoreCollection {
        /// The collection to create (or replace).
        name: String,
        /// A collection in the core's portable format.
        bytes: Vec<u8>,
        /// Whether an existing collection of that name is replaced.
        replace: bool,
    },
}

/// What a mutation returned (the direct call's value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to return (create collection, create payload index, aliases).
    Done,
    /// The collection's write sequence number after an upsert.
    Seq(u64),
    /// How many points a delete or payload edit touched, or a restore held.
    Count(usize),
    /// Whether the deleted collection or payload index existed.
    Existed(bool),
}

impl Outcome {
    /// As JSON: `{"done": true}`, `{"seq": n}`, `{"count": n}` or
    /// `{"existed": b}`.
    pub fn to_json(&self) -> Value {
        let (key, value) = match *self {
            Outcome::Done => ("done", Value::Bool(true)),
            Outcome::Seq(n) => ("seq", Value::from(n)),
            Outcome::Count(n) => ("count", Value::from(n)),
            Outcome::Existed(b) => ("existed", Value::Bool(b)),
        };
        let mut m = serde_json::Map::new();
        m.insert(key.to_string(), value);
        Value::Object(m)
    }

    /// The outcome that [`Outcome::to_json`] wrote; `None` for any other
    /// value.
    pub fn from_json(value: &Value) -> Option<Outcome> {
        let m = value.as_object()?;
        if m.len() != 1 {
            return None;
        }
        let (key, v) = m.iter().next()?;
        match key.as_str() {
            "done" if v == &Value::Bool(true) => Some(Outcome::Done),
            "seq" => v.as_u64().map(Outcome::Seq),
            "count" => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Outcome::Count),
            "existed" => v.as_bool().map(Outcome::Existed),
            _ => None,
        }
    }
}

// --- the wire format ---

fn bincode_config() -> impl bincode::config::Config {
    // No decode limit: the body is decoded only after its CRC-32 matched,
    // so a length field is damaged only by a deliberate forgery.
    bincode::config::standard()
}

#[derive(bincode::Encode, bincode::Decode)]
enum WireId {
    Num(u64),
    Uuid(u128),
}

#[derive(bincode::Encode, bincode::Decode)]
struct WirePoint {
    id: WireId,
    /// `record::encode_point` bytes.
    record: Vec<u8>,
}

#[derive(bincode::Encode, bincode::Decode)]
enum WireSelector {
    Ids(Vec<WireId>),
    /// `Filter::to_value` as JSON text.
    Filter(String),
}

#[derive(bincode::Encode, bincode::Decode)]
enum WireAliasOp {
    Create { alias: String, collection: String },
    Delete { alias: String },
    Rename { from: String, to: String },
}

/// The encoded body. Variant order is part of the format: append only.
#[derive(bincode::Encode, bincode::Decode)]
enum WireMutation {
    CreateCollection {
        name: String,
        config: String,
    },
    DeleteCollection {
        name: String,
    },
    Upsert {
        collection: String,
        points: Vec<WirePoint>,
    },
    DeletePoints {
        collection: String,
        selector: WireSelector,
    },
    SetPayload {
        collection: String,
        selector: WireSelector,
        payload: String,
        key: Option<String>,
    },
    OverwritePayload {
        collection: String,
        selector: WireSelector,
        payload: String,
    },
    DeletePayload {
        collection: String,
        selector: WireSelector,
        keys: Vec<String>,
    },
    ClearPayload {
        collection: String,
        selector: WireSelector,
    },
    CreatePayloadIndex {
        collection: String,
        field: String,
        schema: String,
    },
    DeletePayloadIndex {
        collection: String,
        field: String,
    },
    UpdateAliases {
        ops: Vec<WireAliasOp>,
    },
    RestoreCollection {
        name: String,
        bytes: Vec<u8>,
        replace: bool,
    },
}

fn wire_id(id: &PointId) -> WireId {
    match *id {
        PointId::Num(n) => WireId::Num(n),
        PointId::Uuid(u) => WireId::Uuid(u),
    }
}

fn point_id(id: WireId) -> PointId {
    match id {
        WireId::Num(n) => PointId::Num(n),
        WireId::Uuid(u) => PointId::Uuid(u),
    }
}

fn wire_selector(s: &PointSelector) -> WireSelector {
    match s {
        PointSelector::Ids(ids) => WireSelector::Ids(ids.iter().map(wire_id).collect()),
        PointSelector::Filter(f) => WireSelector::Filter(f.to_value().to_string()),
    }
}

fn payload_text(p: &Payload) -> String {
    serde_json::to_string(p).expect("JSON maps serialise")
}

fn schema_text(s: FieldSchema) -> String {
    match serde_json::to_value(s) {
        Ok(Value::String(s)) => s,
        _ => unreachable!("field schemas serialise as strings"),
    }
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidMutation(detail.into())
}

fn json(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what}: {e}")))
}

fn payload_of(text: &str) -> Result<Payload> {
    match json("payload", text)? {
        Value::Object(m) => Ok(m),
        other => Err(invalid(format!("payload: expected an object, got {other}"))),
    }
}

fn selector_of(s: WireSelector) -> Result<PointSelector> {
    Ok(match s {
        WireSelector::Ids(ids) => PointSelector::Ids(ids.into_iter().map(point_id).collect()),
        WireSelector::Filter(text) => PointSelector::Filter(
            Filter::from_value(&json("filter", &text)?)
                .map_err(|e| invalid(format!("filter: {e}")))?,
        ),
    })
}

/// `magic`, `version`, CRC-32 of `body`, `body`.
fn seal(magic: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(magic);
    out.push(version);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of bytes written by [`seal`], checked.
fn unseal<'b>(
    bytes: &'b [u8],
    magic: &[u8; 4],
    version: u8,
) -> std::result::Result<&'b [u8], String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "truncated: {} bytes, the header alone is {HEADER}",
            bytes.len()
        ));
    }
    let (head, body) = bytes.split_at(HEADER);
    if &head[..4] != magic {
        return Err("bad magic number".into());
    }
    if head[4] != version {
        return Err(format!(
            "unsupported version {}, this build reads version {version}",
            head[4]
        ));
    }
    let crc = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch (damaged or truncated)".into());
    }
    Ok(body)
}

/// Decodes a whole bincode body: trailing bytes are an error.
fn decode_body<T: bincode::Decode<()>>(body: &[u8]) -> std::result::Result<T, String> {
    let (value, used): (T, usize) =
        bincode::decode_from_slice(body, bincode_config()).map_err(|e| e.to_string())?;
    if used != body.len() {
        return Err(format!("{} trailing bytes", body.len() - used));
    }
    Ok(value)
}

impl Mutation {
    /// Grape's own bytes of the mutation: versioned and checksummed (see
    /// the module documentation for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let wire = match self {
            Mutation::CreateCollection { name, config } => WireMutation::CreateCollection {
                name: name.clone(),
                config: config.to_string(),
            },
            Mutation::DeleteCollection { name } => {
                WireMutation::DeleteCollection { name: name.clone() }
            }
            Mutation::Upsert { collection, points } => {
                let mut sizes = PayloadSizes::default();
                WireMutation::Upsert {
                    collection: collection.clone(),
                    points: points
                        .iter()
                        .map(|p| WirePoint {
                            id: wire_id(&p.id),
                            record: encode_point(p, &mut sizes),
                        })
                        .collect(),
                }
            }
            Mutation::DeletePoints {
                collection,
                selector,
            } => WireMutation::DeletePoints {
                collection: collection.clone(),
                selector: wire_selector(selector),
            },
            Mutation::SetPayload {
                collection,
                selector,
                payload,
                key,
            } => WireMutation::SetPayload {
                collection: collection.clone(),
                selector: wire_selector(selector),
                payload: payload_text(payload),
                key: key.clone(),
            },
            Mutation::OverwritePayload {
                collection,
                selector,
                payload,
            } => WireMutation::OverwritePayload {
                collection: collection.clone(),
                selector: wire_selector(selector),
                payload: payload_text(payload),
            },
            Mutation::DeletePayload {
                collection,
                selector,
                keys,
            } => WireMutation::DeletePayload {
                collection: collection.clone(),
                selector: wire_selector(selector),
                keys: keys.clone(),
            },
            Mutation::ClearPayload {
                collection,
                selector,
            } => WireMutation::ClearPayload {
                collection: collection.clone(),
                selector: wire_selector(selector),
            },
            Mutation::CreatePayloadIndex {
                collection,
                field,
                schema,
            } => WireMutation::CreatePayloadIndex {
                collection: collection.clone(),
                field: field.clone(),
                schema: schema_text(*schema),
            },
            Mutation::DeletePayloadIndex { collection, field } => {
                WireMutation::DeletePayloadIndex {
                    collection: collection.clone(),
                    field: field.clone(),
                }
            }
            Mutation::UpdateAliases { ops } => WireMutation::UpdateAliases {
                ops: ops
                    .iter()
                    .map(|op| match op {
                        AliasOp::Create { alias, collection } => WireAliasOp::Create {
                            alias: alias.clone(),
                            collection: collection.clone(),
                        },
                        AliasOp::Delete { alias } => WireAliasOp::Delete {
                            alias: alias.clone(),
                        },
                        AliasOp::Rename { from, to } => WireAliasOp::Rename {
                            from: from.clone(),
                            to: to.clone(),
                        },
                    })
                    .collect(),
            },
            Mutation::RestoreCollection {
                name,
                bytes,
                replace,
            } => WireMutation::RestoreCollection {
                name: name.clone(),
                bytes: bytes.clone(),
                replace: *replace,
            },
        };
        let body = bincode::encode_to_vec(&wire, bincode_config()).expect("writing to a vec");
        seal(MUTATION_MAGIC, MUTATION_VERSION, &body)
    }

    /// The mutation that [`Mutation::encode`] wrote. Bytes with another
    /// magic number or version, a checksum mismatch (a flipped bit, a cut),
    /// trailing bytes or a field that does not parse are
    /// [`Error::InvalidMutation`].
    pub fn decode(bytes: &[u8]) -> Result<Mutation> {
        let body = unseal(bytes, MUTATION_MAGIC, MUTATION_VERSION).map_err(invalid)?;
        let wire: WireMutation = decode_body(body).map_err(invalid)?;
        Ok(match wire {
            WireMutation::CreateCollection { name, config } => Mutation::CreateCollection {
                name,
                config: json("collection configuration", &config)?,
            },
            WireMutation::DeleteCollection { name } => Mutation::DeleteCollection { name },
            WireMutation::Upsert { collection, points } => Mutation::Upsert {
                collection,
                points: points
                    .into_iter()
                    .map(|p| decode_point(point_id(p.id), &p.record).map_err(invalid))
                    .collect::<Result<_>>()?,
            },
            WireMutation::DeletePoints {
                collection,
                selector,
            } => Mutation::DeletePoints {
                collection,
                selector: selector_of(selector)?,
            },
            WireMutation::SetPayload {
                collection,
                selector,
                payload,
                key,
            } => Mutation::SetPayload {
                collection,
                selector: selector_of(selector)?,
                payload: payload_of(&payload)?,
                key,
            },
            WireMutation::OverwritePayload {
                collection,
                selector,
                payload,
            } => Mutation::OverwritePayload {
                collection,
                selector: selector_of(selector)?,
                payload: payload_of(&payload)?,
            },
            WireMutation::DeletePayload {
                collection,
                selector,
                keys,
            } => Mutation::DeletePayload {
                collection,
                selector: selector_of(selector)?,
                keys,
            },
            WireMutation::ClearPayload {
                collection,
                selector,
            } => Mutation::ClearPayload {
                collection,
                selector: selector_of(selector)?,
            },
            WireMutation::CreatePayloadIndex {
                collection,
                field,
                schema,
            } => Mutation::CreatePayloadIndex {
                collection,
                field,
                schema: serde_json::from_value(Value::String(schema.clone()))
                    .map_err(|_| invalid(format!("unknown payload index schema {schema:?}")))?,
            },
            WireMutation::DeletePayloadIndex { collection, field } => {
                Mutation::DeletePayloadIndex { collection, field }
            }
            WireMutation::UpdateAliases { ops } => Mutation::UpdateAliases {
                ops: ops
                    .into_iter()
                    .map(|op| match op {
                        WireAliasOp::Create { alias, collection } => {
                            AliasOp::Create { alias, collection }
                        }
                        WireAliasOp::Delete { alias } => AliasOp::Delete { alias },
                        WireAliasOp::Rename { from, to } => AliasOp::Rename { from, to },
                    })
                    .collect(),
            },
            WireMutation::RestoreCollection {
                name,
                bytes,
                replace,
            } => Mutation::RestoreCollection {
                name,
                bytes,
                replace,
            },
        })
    }

    /// The collection the mutation writes (a collection name, never an
    /// alias); `None` for [`Mutation::UpdateAliases`].
    pub fn collection(&self) -> Option<&str> {
        match self {
            Mutation::CreateCollection { name, .. }
            | Mutation::DeleteCollection { name }
            | Mutation::RestoreCollection { name, .. } => Some(name),
            Mutation::Upsert { collection, .. }
            | Mutation::DeletePoints { collection, .. }
            | Mutation::SetPayload { collection, .. }
            | Mutation::OverwritePayload { collection, .. }
            | Mutation::DeletePayload { collection, .. }
            | Mutation::ClearPayload { collection, .. }
            | Mutation::CreatePayloadIndex { collection, .. }
            | Mutation::DeletePayloadIndex { collection, .. } => Some(collection),
            Mutation::UpdateAliases { .. } => None,
        }
    }

    /// The number of points of an [`Mutation::Upsert`] (to split big
    /// batches into several log entries); 0 for every other mutation.
    pub fn point_count(&self) -> usize {
        match self {
            Mutation::Upsert { points, .. } => points.len(),
            _ => 0,
        }
    }
}

// --- the applied mark ---

/// The applied mark to commit with a change, if any, and whether a
/// transaction holding it committed. The internal commit paths of `db.rs`
/// and `aliases.rs` take one: [`Mark::stage`] before their commit,
/// [`Mark::committed`] after it.
pub(crate) struct Mark<'a> {
    bytes: Option<&'a [u8]>,
    committed: Cell<bool>,
}

impl<'a> Mark<'a> {
    /// No mark: the direct calls.
    pub(crate) fn none() -> Mark<'static> {
        Mark {
            bytes: None,
            committed: Cell::new(false),
        }
    }

    fn some(bytes: &'a [u8]) -> Mark<'a> {
        Mark {
            bytes: Some(bytes),
            committed: Cell::new(false),
        }
    }

    /// Writes the mark (if any) into `txn`.
    pub(crate) fn stage(&self, txn: &redb::WriteTransaction) -> Result<()> {
        if let Some(bytes) = self.bytes {
            txn.open_table(RAFT)?.insert(APPLIED, bytes)?;
        }
        Ok(())
    }

    /// Records that the transaction that [`Mark::stage`] wrote into
    /// committed.
    pub(crate) fn committed(&self) {
        self.committed.set(true);
    }
}

/// A durable write transaction with quick repair, whatever the database's
/// [`crate::Durability`].
fn begin_durable(db: &redb::Database) -> Result<redb::WriteTransaction> {
    let mut txn = db.begin_write()?;
    txn.set_quick_repair(true);
    Ok(txn)
}

// --- the export blob ---

#[derive(bincode::Encode, bincode::Decode)]
struct ExportBody {
    mark: Option<Vec<u8>>,
    /// Alias -> collection, sorted by alias.
    aliases: Vec<(String, String)>,
    /// Sorted by name.
    collections: Vec<ExportedCollection>,
}

#[derive(bincode::Encode, bincode::Decode)]
struct ExportedCollection {
    name: String,
    /// `StoredCollection::encode` (its uid is not kept on import).
    catalogue: Vec<u8>,
    /// The write sequence number.
    seq: u64,
    /// The search state in the core's portable format.
    state: Vec<u8>,
    /// Point records from redb (id key, record), only when some dense
    /// vector is kept in memory as quantized codes alone (so the state
    /// lacks the vectors to store); empty otherwise.
    records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A collection of an export blob, checked and ready to store.
struct Prepared {
    name: String,
    stored: StoredCollection,
    seq: u64,
    collection: Collection,
    points: Vec<PointData>,
}

fn bad_export(detail: impl Into<String>) -> Error {
    Error::InvalidExport(detail.into())
}

/// Whether the search state of a collection lacks some dense vectors that
/// redb holds (quantized without originals).
fn keeps_codes_only(h: &Handle) -> bool {
    h.config.quantization.values().any(|q| !q.keep_originals)
}

/// Checks one exported collection and works out its points.
fn prepare(c: ExportedCollection) -> Result<Prepared> {
    let name = c.name;
    let bad = |e: String| bad_export(format!("collection {name:?}: {e}"));
    check_name(&name).map_err(|e| bad(e.to_string()))?;
    let stored = StoredCollection::decode(&c.catalogue).map_err(|e| bad(e.to_string()))?;
    stored_config(&name, &stored).map_err(|e| bad(e.to_string()))?;
    let collection = Collection::from_bytes(&c.state).map_err(|e| bad(e.to_string()))?;
    let points: Vec<PointData> = if c.records.is_empty() {
        collection
            .ids()
            .filter_map(|id| collection.point_data(id))
            .collect()
    } else {
        c.records
            .iter()
            .map(|(k, v)| decode_point(key_id(k)?, v))
            .collect::<std::result::Result<_, String>>()
            .map_err(bad)?
    };
    if points.len() != collection.len() {
        return Err(bad(format!(
            "{} stored points for {} in the search state",
            points.len(),
            collection.len()
        )));
    }
    if let Some(vector) = crate::db::quantized_only(&collection, &points) {
        return Err(bad(format!(
            "dense vector {vector:?} is kept only as quantized codes"
        )));
    }
    collection
        .config()
        .check_points(&points)
        .map_err(|e| bad(e.to_string()))?;
    Ok(Prepared {
        name,
        stored,
        seq: c.seq,
        collection,
        points,
    })
}

impl Database {
    /// Applies `m`: the same effect and result as the direct call it names
    /// (see [`Mutation`]).
    pub fn apply(&self, m: Mutation) -> Result<Outcome> {
        self.apply_with(m, &Mark::none())
    }

    fn apply_with(&self, m: Mutation, mark: &Mark<'_>) -> Result<Outcome> {
        Ok(match m {
            Mutation::CreateCollection { name, config } => {
                self.create_collection_marked(&name, &config, mark)?;
                Outcome::Done
            }
            Mutation::DeleteCollection { name } => {
                Outcome::Existed(self.delete_collection_marked(&name, mark)?)
            }
            Mutation::Upsert { collection, points } => {
                Outcome::Seq(self.upsert_marked(&collection, points, mark)?)
            }
            Mutation::DeletePoints {
                collection,
                selector,
            } => Outcome::Count(match &selector {
                PointSelector::Ids(ids) => self.delete_marked(&collection, ids, mark)?,
                PointSelector::Filter(f) => self.delete_by_filter_marked(&collection, f, mark)?,
            }),
            Mutation::SetPayload {
                collection,
                selector,
                payload,
                key,
            } => Outcome::Count(self.edit_payload(
                &collection,
                &selector,
                Edit::Set(payload, key),
                mark,
            )?),
            Mutation::OverwritePayload {
                collection,
                selector,
                payload,
            } => Outcome::Count(self.edit_payload(
                &collection,
                &selector,
                Edit::Overwrite(payload),
                mark,
            )?),
            Mutation::DeletePayload {
                collection,
                selector,
                keys,
            } => Outcome::Count(self.edit_payload(
                &collection,
                &selector,
                Edit::Delete(keys),
                mark,
            )?),
            Mutation::ClearPayload {
                collection,
                selector,
            } => Outcome::Count(self.edit_payload(&collection, &selector, Edit::Clear, mark)?),
            Mutation::CreatePayloadIndex {
                collection,
                field,
                schema,
            } => {
                self.create_payload_index_marked(&collection, &field, schema, mark)?;
                Outcome::Done
            }
            Mutation::DeletePayloadIndex { collection, field } => {
                Outcome::Existed(self.delete_payload_index_marked(&collection, &field, mark)?)
            }
            Mutation::UpdateAliases { ops } => {
                self.update_aliases_marked(&ops, mark)?;
                Outcome::Done
            }
            Mutation::RestoreCollection {
                name,
                bytes,
                replace,
            } => Outcome::Count(self.restore_marked(&name, &bytes, replace, mark)?),
        })
    }

    /// Applies `m` as [`Database::apply`] and stores `mark` (opaque bytes:
    /// the Raft state machine's last-applied log id and membership) in the
    /// same redb transaction as the change, so that after a crash
    /// [`Database::applied_mark`] names exactly the last change that is in.
    ///
    /// When `m` changes nothing (a delete matching no point, a payload
    /// edit of unknown ids, an absent payload index) `mark` is committed
    /// alone. When `m` fails deterministically ([`Error::is_deterministic`]:
    /// bad input, unknown collection, wrong dimension ... nothing changed and
    /// every replica fails the same way) `mark` is committed alone and the
    /// error returned, so that a replay never applies the entry again. On
    /// any other error (I/O, disk full, shut down) `mark` is not written:
    /// the entry is to be applied again.
    ///
    /// Calls of `apply_marked`, [`Database::set_applied_mark`],
    /// [`Database::export_all`] and [`Database::import_all`] run one at a
    /// time. The mark follows the database's [`crate::Durability`], as the
    /// data does.
    pub fn apply_marked(&self, m: Mutation, mark: &[u8]) -> Result<Outcome> {
        let _applying = lock(&self.inner.applying);
        let slot = Mark::some(mark);
        let result = self.apply_with(m, &slot);
        if slot.committed.get() {
            return result;
        }
        match result {
            Ok(outcome) => {
                self.commit_mark(mark, false)?;
                Ok(outcome)
            }
            Err(e) if e.is_deterministic() => {
                self.commit_mark(mark, false)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The mark of the last [`Database::apply_marked`],
    /// [`Database::set_applied_mark`] or [`Database::import_all`]; `None`
    /// on a database that never had one.
    pub fn applied_mark(&self) -> Result<Option<Vec<u8>>> {
        self.inner.check_open()?;
        let db = self.inner.redb()?;
        let read = db.begin_read()?;
        let table = match read.open_table(RAFT) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get(APPLIED)?.map(|v| v.value().to_vec()))
    }

    /// Stores `mark` alone (for log entries without a mutation: blank and
    /// membership entries), durably whatever the database's
    /// [`crate::Durability`].
    pub fn set_applied_mark(&self, mark: &[u8]) -> Result<()> {
        let _applying = lock(&self.inner.applying);
        self.commit_mark(mark, true)
    }

    fn commit_mark(&self, mark: &[u8], durable: bool) -> Result<()> {
        let inner = &self.inner;
        inner.check_open()?;
        let db = inner.redb()?;
        let txn = if durable {
            begin_durable(&db)?
        } else {
            inner.begin_write(&db)?
        };
        txn.open_table(RAFT)?.insert(APPLIED, mark)?;
        txn.commit()?;
        Ok(())
    }

    /// Everything the database holds as one versioned, checksummed blob
    /// (for Raft snapshots): every collection (its catalogue entry, write
    /// sequence number, and search state in the core's portable format, as
    /// [`Database::snapshot`] takes it), the aliases and the applied mark.
    ///
    /// Taken while no [`Database::apply_marked`] or
    /// [`Database::set_applied_mark`] runs and no collection is created or
    /// deleted, each collection under its writer lock: the mark matches the
    /// data. The blob is built in memory.
    pub fn export_all(&self) -> Result<Vec<u8>> {
        let inner = &self.inner;
        let _applying = lock(&inner.applying);
        let _catalogue = lock(&inner.catalogue);
        inner.check_open()?;
        let mut handles: Vec<Arc<Handle>> = read(&inner.collections).values().cloned().collect();
        handles.sort_by(|a, b| a.name.cmp(&b.name));
        let db = inner.redb()?;
        let mut collections = Vec::with_capacity(handles.len());
        for h in &handles {
            let w = inner.lock_writer(h)?;
            let records = if keeps_codes_only(h) {
                let txn = db.begin_read()?;
                let table = txn.open_table(points_def(&h.table))?;
                let mut records = Vec::new();
                for item in table.iter()? {
                    let (k, v) = item?;
                    records.push((k.value().to_vec(), v.value().to_vec()));
                }
                records
            } else {
                Vec::new()
            };
            let state = read(&h.state).to_bytes();
            collections.push(ExportedCollection {
                name: h.name.clone(),
                catalogue: w.stored.encode(),
                seq: w.seq,
                state,
                records,
            });
        }
        let body = ExportBody {
            mark: self.applied_mark()?,
            aliases: self.list_aliases()?,
            collections,
        };
        let body = bincode::encode_to_vec(&body, bincode_config()).expect("writing to a vec");
        Ok(seal(EXPORT_MAGIC, EXPORT_VERSION, &body))
    }

    /// Replaces the whole content of the database (collections, aliases,
    /// applied mark) with an [`Database::export_all`] blob.
    ///
    /// Everything is checked first (header, checksum, every collection
    /// decoded, aliases naming collections of the blob): a bad blob is
    /// [`Error::InvalidExport`] and the database is unchanged. Then the old
    /// content goes and the new one comes in one durable redb transaction
    /// (with the mark), so a crash leaves either the old content with the
    /// old mark or the new one with the new mark. Index files are written
    /// afterwards (a crash before leaves them stale, and opening rebuilds).
    pub fn import_all(&self, bytes: &[u8]) -> Result<()> {
        let inner = &self.inner;
        let _applying = lock(&inner.applying);
        inner.check_open()?;
        let body = unseal(bytes, EXPORT_MAGIC, EXPORT_VERSION).map_err(bad_export)?;
        let body: ExportBody = decode_body(body).map_err(bad_export)?;
        let mut names = BTreeSet::new();
        let mut prepared = Vec::with_capacity(body.collections.len());
        for c in body.collections {
            if !names.insert(c.name.clone()) {
                return Err(bad_export(format!("collection {:?} appears twice", c.name)));
            }
            prepared.push(prepare(c)?);
        }
        let mut aliases = BTreeMap::new();
        for (alias, collection) in body.aliases {
            check_alias(&alias).map_err(|e| bad_export(e.to_string()))?;
            if names.contains(&alias) {
                return Err(bad_export(format!("alias {alias:?} is a collection name")));
            }
            if !names.contains(&collection) {
                return Err(bad_export(format!(
                    "alias {alias:?} names unknown collection {collection:?}"
                )));
            }
            if aliases.insert(alias.clone(), collection).is_some() {
                return Err(bad_export(format!("alias {alias:?} appears twice")));
            }
        }
        let mut disk = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let d = inner
                .disk_vectors(&p.name, &p.stored, p.collection.config())
                .map_err(|e| bad_export(format!("collection {:?}: {e}", p.name)))?;
            disk.push(d);
        }

        let _catalogue = lock(&inner.catalogue);
        inner.check_open()?;
        let mut old: Vec<Arc<Handle>> = read(&inner.collections).values().cloned().collect();
        old.sort_by(|a, b| a.name.cmp(&b.name));
        let mut old_writers = Vec::with_capacity(old.len());
        for h in &old {
            old_writers.push(inner.lock_writer(h)?);
        }
        for (p, d) in prepared.iter_mut().zip(&disk) {
            inner.place_vectors(d, &mut p.collection)?;
        }
        let db = inner.redb()?;
        let mut sizes = PayloadSizes::default();
        let txn = begin_durable(&db)?;
        {
            let mut catalogue = txn.open_table(CATALOGUE)?;
            let mut seqs = txn.open_table(SEQ)?;
            for h in &old {
                catalogue.remove(h.name.as_str())?;
                seqs.remove(h.uid)?;
                txn.delete_table(points_def(&h.table))?;
            }
            let mut meta = txn.open_table(META)?;
            for p in &mut prepared {
                let uid = meta.get(NEXT_UID)?.map_or(1, |g| g.value());
                meta.insert(NEXT_UID, uid + 1)?;
                p.stored.uid = uid;
                catalogue.insert(p.name.as_str(), p.stored.encode().as_slice())?;
                seqs.insert(uid, p.seq)?;
                let mut table = txn.open_table(points_def(&points_table(uid)))?;
                for point in &p.points {
                    table.insert(
                        id_key(&point.id).as_slice(),
                        encode_point(point, &mut sizes).as_slice(),
                    )?;
                }
            }
            txn.delete_table(ALIASES)?;
            let mut table = txn.open_table(ALIASES)?;
            for (alias, collection) in &aliases {
                table.insert(alias.as_str(), collection.as_str())?;
            }
            let mut raft = txn.open_table(RAFT)?;
            match &body.mark {
                Some(mark) => raft.insert(APPLIED, mark.as_slice())?,
                None => raft.remove(APPLIED)?,
            };
        }
        txn.commit()?;
        for w in &mut old_writers {
            w.dropped = true;
        }
        inner.payload_raw.fetch_add(sizes.raw, Ordering::Relaxed);
        inner
            .payload_stored
            .fetch_add(sizes.stored, Ordering::Relaxed);
        let mut handles = HashMap::with_capacity(prepared.len());
        for (p, disk) in prepared.into_iter().zip(disk) {
            let handle = Handle {
                uid: p.stored.uid,
                table: points_table(p.stored.uid),
                config: p.collection.config().clone(),
                index_path: index_file::path(&inner.dir, &p.name),
                disk,
                writer: Mutex::new(WriterState {
                    seq: p.seq,
                    persisted_seq: None,
                    since_persist: p.points.len(),
                    stored: p.stored,
                    dropped: false,
                }),
                state: RwLock::new(p.collection),
                name: p.name,
            };
            handles.insert(handle.name.clone(), Arc::new(handle));
        }
        *write(&inner.collections) = handles.clone();
        drop(old_writers);
        // Files of the old collections are stale now (their uids are gone).
        for h in &old {
            if let Err(e) = index_file::remove(&h.index_path) {
                warn!(collection = %h.name, "cannot remove the old index file: {e}");
            }
        }
        for h in handles.values() {
            let mut w = lock(&h.writer);
            if let Err(e) = inner.persist(h, &mut w, &db) {
                warn!(collection = %h.name, "cannot write the index file: {e}");
            }
        }
        Ok(())
    }
}

impl AsyncDatabase {
    /// [`Database::apply`].
    pub async fn apply(&self, m: Mutation) -> Result<Outcome> {
        blocking(self, move |db| db.apply(m)).await
    }

    /// [`Database::apply_marked`].
    pub async fn apply_marked(&self, m: Mutation, mark: Vec<u8>) -> Result<Outcome> {
        blocking(self, move |db| db.apply_marked(m, &mark)).await
    }

    /// [`Database::applied_mark`].
    pub async fn applied_mark(&self) -> Result<Option<Vec<u8>>> {
        blocking(self, move |db| db.applied_mark()).await
    }

    /// [`Database::set_applied_mark`].
    pub async fn set_applied_mark(&self, mark: Vec<u8>) -> Result<()> {
        blocking(self, move |db| db.set_applied_mark(&mark)).await
    }

    /// [`Database::export_all`].
    pub async fn export_all(&self) -> Result<Vec<u8>> {
        blocking(self, move |db| db.export_all()).await
    }

    /// [`Database::import_all`].
    pub async fn import_all(&self, bytes: Vec<u8>) -> Result<()> {
        blocking(self, move |db| db.import_all(&bytes)).await
    }
}

/// Runs `f` on tokio's blocking pool (as the other async calls do).
async fn blocking<T: Send + 'static>(
    db: &AsyncDatabase,
    f: impl FnOnce(Database) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.blocking().clone();
    tokio::task::spawn_blocking(move || f(db))
        .await
        .map_err(|e| Error::TaskFailed(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_json() {
        for o in [
            Outcome::Done,
            Outcome::Seq(7),
            Outcome::Count(3),
            Outcome::Existed(false),
        ] {
            assert_eq!(Outcome::from_json(&o.to_json()), Some(o));
        }
        assert_eq!(
            Outcome::from_json(&serde_json::json!({"done": false})),
            None
        );
        assert_eq!(Outcome::from_json(&serde_json::json!(3)), None);
    }

    #[test]
    fn unseal_names_each_defect() {
        let sealed = seal(MUTATION_MAGIC, MUTATION_VERSION, b"body");
        assert_eq!(
            unseal(&sealed, MUTATION_MAGIC, MUTATION_VERSION),
            Ok(&b"body"[..])
        );
        let err = |b: &[u8]| unseal(b, MUTATION_MAGIC, MUTATION_VERSION).unwrap_err();
        assert!(err(&sealed[..4]).starts_with("truncated"));
        assert!(err(&seal(EXPORT_MAGIC, 1, b"body")).contains("magic"));
        assert!(err(&seal(MUTATION_MAGIC, 2, b"body")).contains("version 2"));
        assert!(err(&sealed[..sealed.len() - 1]).contains("checksum"));
    }
}
