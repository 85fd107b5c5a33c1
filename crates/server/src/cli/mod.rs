//! The `grape` binary's offline commands: `import` and `snapshot`. They open
//! the data directory with grape-db directly (no server may hold it
//! meanwhile: redb locks the database file) and shut it down cleanly.

pub mod import;
mod progress;
pub mod snapshot;

use std::fmt;
use std::path::Path;

use grape_db::{Database, DbOptions};

/// A command's failure: a message for the user (the binary prints it and
/// exits non-zero).
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<grape_db::Error> for CliError {
    fn from(e: grape_db::Error) -> Self {
        CliError(e.to_string())
    }
}

/// Opens the database in `dir`, naming the directory on failure (e.g. when
/// a running server holds it).
fn open(dir: &Path) -> Result<Database, CliError> {
    Database::open(dir, DbOptions::default()).map_err(|e| {
        CliError(format!(
            "cannot open the database in {}: {e}",
            dir.display()
        ))
    })
}

/// Shuts the database down (every write durable, index files written).
fn close(db: &Database) -> Result<(), CliError> {
    db.shutdown()
        .map_err(|e| CliError(format!("closing the database failed: {e}")))
}
