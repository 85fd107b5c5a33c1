//! `grape import`: points from a JSONL file (one Qdrant `PointStruct` per
//! line) or an fvecs file (rows get ids 0, 1, ...) into a collection, in
//! batches, each batch one all-or-nothing upsert.
//!
//! Every record is parsed and checked by the collection's rules before its
//! batch is sent, so a bad record fails the import with its line (or row)
//! number and nothing of its batch is stored; the batches before it stay
//! imported, and the message says how many points that was.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use grape_core::PointData;
use grape_core::payload::{Payload, PointId};
use grape_db::Database;

use super::progress::Progress;
use super::{CliError, close, open};

/// Arguments of `grape import`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["jsonl", "fvecs"])))]
pub struct ImportArgs {
    /// The collection to import into.
    #[arg(long)]
    pub collection: String,
    /// Create the collection first with this create-collection body (Qdrant's
    /// JSON, e.g. '{"vectors": {"size": 128, "distance": "Cosine"}}'); an
    /// error if it exists.
    #[arg(long, value_name = "JSON")]
    pub create_with: Option<String>,
    /// A JSONL file: one point per line in Qdrant's PointStruct shape
    /// ({"id", "vector", "payload"}); blank lines are skipped.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// An fvecs file (per row: dimension as little-endian i32, then that
    /// many f32); row i becomes point i.
    #[arg(long, value_name = "FILE")]
    pub fvecs: Option<PathBuf>,
    /// The dense vector the fvecs rows fill (default: the unnamed one).
    #[arg(long, value_name = "NAME", requires = "fvecs")]
    pub vector: Option<String>,
    /// Points per upsert.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// The database directory.
    #[arg(long, env = "GRAPE_DATA_DIR", default_value = "./grape-data")]
    pub data_dir: PathBuf,
}

/// Runs `grape import`; returns the number of points imported.
pub fn run(args: &ImportArgs) -> Result<u64, CliError> {
    let create = match &args.create_with {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| CliError(format!("--create-with is not JSON: {e}")))?,
        ),
        None => None,
    };
    let db = open(&args.data_dir)?;
    let result = import(&db, args, create.as_ref());
    // Close whatever happened: the batches imported so far stay durable.
    let closed = close(&db);
    let n = result?;
    closed?;
    Ok(n)
}

fn import(
    db: &Database,
    args: &ImportArgs,
    create: Option<&serde_json::Value>,
) -> Result<u64, CliError> {
    let name = args.collection.as_str();
    let exists = db.collection_exists(name)?;
    match (create, exists) {
        (Some(_), true) => {
            return Err(CliError(format!(
                "collection {name:?} already exists: leave out --create-with to add to it"
            )));
        }
        (Some(config), false) => db
            .create_collection(name, config)
            .map_err(|e| CliError(format!("--create-with: {e}")))?,
        (None, false) => {
            return Err(CliError(format!(
                "collection {name:?} does not exist: create it with --create-with JSON"
            )));
        }
        (None, true) => {}
    }
    let mut batcher = Batcher {
        db,
        name,
        size: usize::try_from(args.batch).unwrap_or(usize::MAX),
        pending: Vec::new(),
        first: String::new(),
        imported: 0,
    };
    if let Some(path) = &args.jsonl {
        read_jsonl(path, &mut batcher)?;
    } else if let Some(path) = &args.fvecs {
        read_fvecs(path, args.vector.as_deref().unwrap_or(""), &mut batcher)?;
    }
    batcher.flush()?;
    Ok(batcher.imported)
}

/// Collects checked points and upserts them in batches.
struct Batcher<'a> {
    db: &'a Database,
    name: &'a str,
    size: usize,
    pending: Vec<PointData>,
    /// Where the pending batch starts ("line 7"), for messages.
    first: String,
    imported: u64,
}

impl Batcher<'_> {
    /// Checks `point` (read at `at`, e.g. "line 7") and queues it.
    fn push(&mut self, point: PointData, at: impl Fn() -> String) -> Result<(), CliError> {
        if let Err(e) = self
            .db
            .check_points(self.name, std::slice::from_ref(&point))
        {
            let message = e.to_string().replace("points[0]: ", "");
            return Err(self.failed(&at(), &message));
        }
        if self.pending.is_empty() {
            self.first = at();
        }
        self.pending.push(point);
        if self.pending.len() >= self.size {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CliError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let n = batch.len() as u64;
        if let Err(e) = self.db.upsert(self.name, batch) {
            let at = format!("the batch from {}", self.first);
            return Err(self.failed(&at, &e.to_string()));
        }
        self.imported += n;
        Ok(())
    }

    /// The error for a bad record at `at`: nothing of its batch is stored.
    fn failed(&mut self, at: &str, message: &str) -> CliError {
        self.pending.clear();
        CliError(format!(
            "{at}: {message} (nothing of its batch was imported; {} points from earlier batches were)",
            self.imported
        ))
    }
}

fn open_input(path: &Path) -> Result<(File, u64), CliError> {
    let file =
        File::open(path).map_err(|e| CliError(format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, len))
}

fn read_jsonl(path: &Path, batcher: &mut Batcher<'_>) -> Result<(), CliError> {
    let (file, len) = open_input(path)?;
    let mut reader = BufReader::new(file);
    let mut progress = Progress::new("import", len);
    let mut line = String::new();
    let mut done = 0u64;
    let mut number = 0u64;
    let result = loop {
        line.clear();
        let read = match reader.read_line(&mut line) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => {
                break Err(CliError(format!(
                    "line {}: cannot read {}: {e}",
                    number + 1,
                    path.display()
                )));
            }
        };
        number += 1;
        done += read as u64;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let at = || format!("line {number}");
        let point = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| PointData::from_value(&v, "point").map_err(|e| e.to_string()));
        let pushed = match point {
            Ok(p) => batcher.push(p, at),
            Err(message) => Err(batcher.failed(&at(), &message)),
        };
        if let Err(e) = pushed {
            break Err(e);
        }
        progress.set(done, batcher.imported);
    };
    progress.finish();
    result
}

/// Largest dimension accepted in an fvecs row header.
const MAX_FVECS_DIM: usize = 1 << 16;

fn read_fvecs(path: &Path, vector: &str, batcher: &mut Batcher<'_>) -> Result<(), CliError> {
    let (file, len) = open_input(path)?;
    let mut reader = BufReader::new(file);
    let mut progress = Progress::new("import", len);
    let mut dim: Option<usize> = None;
    let mut row = 0u64;
    let mut done = 0u64;
    let mut buf = Vec::new();
    let result = loop {
        let at = || format!("row {row} (id {row})");
        let mut header = [0u8; 4];
        match read_full(&mut reader, &mut header) {
            Ok(0) => break Ok(()),
            Ok(4) => {}
            Ok(_) => break Err(batcher.failed(&at(), "the file ends inside the row's header")),
            Err(e) => break Err(batcher.failed(&at(), &format!("cannot read: {e}"))),
        }
        let d = i32::from_le_bytes(header);
        let d = match usize::try_from(d) {
            Ok(d) if (1..=MAX_FVECS_DIM).contains(&d) => d,
            _ => break Err(batcher.failed(&at(), &format!("invalid dimension {d}"))),
        };
        if let Some(expected) = dim
            && expected != d
        {
            let message = format!("dimension {d}, but the first row has {expected}");
            break Err(batcher.failed(&at(), &message));
        }
        dim = Some(d);
        buf.resize(d * 4, 0);
        match read_full(&mut reader, &mut buf) {
            Ok(n) if n == buf.len() => {}
            Ok(_) => break Err(batcher.failed(&at(), "the file ends inside the row")),
            Err(e) => break Err(batcher.failed(&at(), &format!("cannot read: {e}"))),
        }
        let v: Vec<f32> = buf
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut point = PointData::dense(PointId::Num(row), v, Payload::new());
        if !vector.is_empty()
            && let Some(v) = point.vectors.remove("")
        {
            point.vectors.insert(vector.to_string(), v);
        }
        if let Err(e) = batcher.push(point, at) {
            break Err(e);
        }
        row += 1;
        done += 4 + buf.len() as u64;
        progress.set(done, batcher.imported);
    };
    progress.finish();
    result
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
