//! The persisted search state of one collection: `index/<name>.grape`.
//!
//! Layout: `GRAPEDBX` magic (8 bytes), version `u16` (1), reserved `u16`,
//! the collection's uid `u64`, the write sequence number it reflects `u64`,
//! CRC-32 of those 28 bytes `u32`, then the collection in the core's
//! portable byte format (which carries its own checksum). Integers are
//! little-endian. Written to a temporary file, fsynced, then renamed over
//! the old one (and the directory fsynced), so a crash leaves either file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use grape_core::Collection;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"GRAPEDBX";
const VERSION: u16 = 1;
const HEADER: usize = 32;

/// The index file of collection `name` under `dir`.
pub(crate) fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join("index").join(format!("{name}.grape"))
}

fn header(uid: u64, seq: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[12..20].copy_from_slice(&uid.to_le_bytes());
    h[20..28].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Writes `collection` as the state of (`uid`, `seq`), atomically.
pub(crate) fn write(path: &Path, uid: u64, seq: u64, collection: &Collection) -> Result<u64> {
    let bytes = collection.to_bytes();
    let tmp = path.with_extension("grape.tmp");
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&header(uid, seq))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            // Makes the rename durable; not every platform can open a directory.
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    Ok((HEADER + bytes.len()) as u64)
}

/// Why an index file was not used.
pub(crate) enum Miss {
    /// There is none.
    Absent,
    /// It belongs to another collection or another write sequence number.
    Stale(String),
    /// It is damaged.
    Corrupt(String),
}

/// Loads the index file if it reflects exactly (`uid`, `seq`).
pub(crate) fn read(path: &Path, uid: u64, seq: u64) -> std::result::Result<Collection, Miss> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
        Err(e) => return Err(Miss::Corrupt(format!("cannot read: {e}"))),
    };
    if bytes.len() < HEADER {
        return Err(Miss::Corrupt(format!(
            "{} bytes, shorter than its header",
            bytes.len()
        )));
    }
    let h = &bytes[..HEADER];
    if &h[..8] != MAGIC {
        return Err(Miss::Corrupt("bad magic number".into()));
    }
    let crc = u32::from_le_bytes(h[28..32].try_into().expect("4 bytes"));
    if crc32fast::hash(&h[..28]) != crc {
        return Err(Miss::Corrupt("header checksum mismatch".into()));
    }
    let version = u16::from_le_bytes(h[8..10].try_into().expect("2 bytes"));
    if version != VERSION {
        return Err(Miss::Stale(format!(
            "version {version}, this build reads {VERSION}"
        )));
    }
    let file_uid = u64::from_le_bytes(h[12..20].try_into().expect("8 bytes"));
    let file_seq = u64::from_le_bytes(h[20..28].try_into().expect("8 bytes"));
    if file_uid != uid {
        return Err(Miss::Stale(
            "written for another collection of that name".into(),
        ));
    }
    if file_seq != seq {
        return Err(Miss::Stale(format!(
            "reflects write {file_seq}, the database is at write {seq}"
        )));
    }
    Collection::from_bytes(&bytes[HEADER..]).map_err(|e| Miss::Corrupt(e.to_string()))
}

/// Removes the index file (and a leftover temporary file), if any.
pub(crate) fn remove(path: &Path) -> Result<()> {
    for p in [path.to_path_buf(), path.with_extension("grape.tmp")] {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(())
}
