//! `grape snapshot create|restore`: a collection as a file in Grape's
//! portable byte format (what `POST /collections/{name}/snapshots` writes
//! and the npm package reads), and back.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, close, open};

/// `grape snapshot` subcommands.
#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Write a collection to a snapshot file.
    Create(CreateArgs),
    /// Restore a collection from a snapshot file.
    Restore(RestoreArgs),
}

/// Arguments of `grape snapshot create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The collection (or an alias of it).
    #[arg(long)]
    pub collection: String,
    /// The file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The database directory.
    #[arg(long, env = "GRAPE_DATA_DIR", default_value = "./grape-data")]
    pub data_dir: PathBuf,
}

/// Arguments of `grape snapshot restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The collection to restore as.
    #[arg(long)]
    pub collection: String,
    /// The snapshot file.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace an existing collection of that name (otherwise an error).
    #[arg(long)]
    pub replace: bool,
    /// The database directory.
    #[arg(long, env = "GRAPE_DATA_DIR", default_value = "./grape-data")]
    pub data_dir: PathBuf,
}

/// Runs a `grape snapshot` subcommand; returns the line to print.
pub fn run(command: &SnapshotCommand) -> Result<String, CliError> {
    match command {
        SnapshotCommand::Create(a) => create(a),
        SnapshotCommand::Restore(a) => restore(a),
    }
}

fn create(args: &CreateArgs) -> Result<String, CliError> {
    let db = open(&args.data_dir)?;
    let taken = (|| {
        let name = if db.collection_exists(&args.collection)? {
            args.collection.clone()
        } else {
            db.resolve_alias(&args.collection)?
                .ok_or_else(|| grape_db::Error::UnknownCollection(args.collection.clone()))?
        };
        let points = db.info(&name)?.points;
        let bytes = db.snapshot(&name)?;
        Ok::<_, grape_db::Error>((name, points, bytes))
    })();
    let closed = close(&db);
    let (name, points, bytes) = taken?;
    closed?;
    write_atomically(&args.out, &bytes)?;
    Ok(format!(
        "wrote collection {name:?} ({points} points, {} bytes) to {}",
        bytes.len(),
        args.out.display()
    ))
}

fn restore(args: &RestoreArgs) -> Result<String, CliError> {
    let bytes = std::fs::read(&args.from)
        .map_err(|e| CliError(format!("cannot read {}: {e}", args.from.display())))?;
    let db = open(&args.data_dir)?;
    let restored = db.restore(&args.collection, &bytes, args.replace);
    let closed = close(&db);
    let points = restored.map_err(|e| match e {
        grape_db::Error::AlreadyExists(_) => CliError(format!(
            "{e}: pass --replace to replace it with the snapshot"
        )),
        e => CliError(format!("cannot restore {}: {e}", args.from.display())),
    })?;
    closed?;
    Ok(format!(
        "restored collection {:?} ({points} points) from {}",
        args.collection,
        args.from.display()
    ))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames
/// it over `path`: a reader never sees half a snapshot.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError(format!("cannot write {}: {e}", path.display()));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(fail)
}
