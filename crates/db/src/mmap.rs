//! Disk-mmap vector storage: a dense index's original vectors in a
//! memory-mapped file instead of the heap, so that the operating system
//! pages them in and out and a collection larger than memory still opens.
//!
//! The file is a cache, never a source of truth: each collection instance
//! gets a fresh file in `<dir>/vectors/`, unlinked as soon as it is mapped
//! (nothing is left behind by a crash, and a replaced instance never shares
//! pages with its successor). The vectors themselves are durable in redb
//! and in the index file, from which a mapped file is refilled at open.
//!
//! The file grows by writing zeros, not by `set_len`: the blocks are then
//! allocated by the write, so a full disk is an error at the grow (before
//! the database commits the write that needed the room) instead of a
//! `SIGBUS` when a page of a sparse file is first touched.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use grape_core::VectorArena;
use memmap2::{MmapMut, MmapOptions};

/// Directory of the mapped files, under the database directory.
pub(crate) const VECTORS_DIR: &str = "vectors";

/// Message prefix of an arena error caused by a full disk, so that the
/// database can report [`crate::Error::DiskFull`].
pub(crate) const DISK_FULL: &str = "disk full";

/// Smallest growth, in values (64 KiB).
const MIN_GROW: usize = 16 * 1024;

/// Zeros written per call while growing.
const ZERO_CHUNK: usize = 1 << 20;

/// Bytes of mapped vector files of one database, for its stats.
pub(crate) type MappedBytes = Arc<AtomicU64>;

/// One index's vectors in a mapped, already unlinked file.
pub(crate) struct MappedVectors {
    file: File,
    map: Option<MmapMut>,
    /// Values stored.
    len: usize,
    /// Values the file (and the map) holds.
    cap: usize,
    /// Where the file was, for messages.
    path: PathBuf,
    total: MappedBytes,
}

impl MappedVectors {
    /// A new, empty mapped file in `<dir>/vectors/`.
    pub(crate) fn create(dir: &Path, total: MappedBytes) -> std::io::Result<MappedVectors> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let vectors = dir.join(VECTORS_DIR);
        fs::create_dir_all(&vectors)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = vectors.join(format!("{}-{n}.f32", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The open handle keeps the file alive; its name is not needed.
        fs::remove_file(&path)?;
        Ok(MappedVectors {
            file,
            map: None,
            len: 0,
            cap: 0,
            path,
            total,
        })
    }

    /// Grows the file and the map to hold `cap` values.
    fn grow_to(&mut self, cap: usize) -> std::io::Result<()> {
        let old = self.cap * 4;
        let new = cap * 4;
        let zeros = vec![0u8; ZERO_CHUNK.min(new - old)];
        let mut at = old;
        while at < new {
            let n = zeros.len().min(new - at);
            self.file.write_all_at(&zeros[..n], at as u64)?;
            at += n;
        }
        // SAFETY: the file was created by this process with `create_new` and
        // unlinked at once, so no other process or handle can change or
        // shrink it while it is mapped; `new` bytes were just written, so
        // every mapped page is backed by allocated blocks.
        let map = unsafe { MmapOptions::new().len(new).map_mut(&self.file)? };
        self.map = Some(map);
        self.cap = cap;
        self.total.fetch_add((new - old) as u64, Ordering::Relaxed);
        Ok(())
    }

    fn describe(&self, e: std::io::Error) -> String {
        let kind = e.kind();
        if kind == std::io::ErrorKind::StorageFull || kind == std::io::ErrorKind::QuotaExceeded {
            format!("{DISK_FULL}: growing {}: {e}", self.path.display())
        } else {
            format!("growing {}: {e}", self.path.display())
        }
    }
}

impl Drop for MappedVectors {
    fn drop(&mut self) {
        self.total
            .fetch_sub((self.cap * 4) as u64, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for MappedVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mapped {} ({} of {} values)",
            self.path.display(),
            self.len,
            self.cap
        )
    }
}

impl VectorArena for MappedVectors {
    fn as_slice(&self) -> &[f32] {
        match &self.map {
            // SAFETY: the map is page-aligned (so aligned for f32) and holds
            // `cap * 4 >= len * 4` bytes, all initialised (zeros or written
            // values, and every bit pattern is an f32); the borrow of `self`
            // keeps the map alive and unmodified for the slice's lifetime.
            Some(m) => unsafe { std::slice::from_raw_parts(m.as_ptr().cast::<f32>(), self.len) },
            None => &[],
        }
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        let len = self.len;
        match &mut self.map {
            // SAFETY: as in `as_slice`, and the unique borrow of `self`
            // makes this the only view of the map.
            Some(m) => unsafe { std::slice::from_raw_parts_mut(m.as_mut_ptr().cast::<f32>(), len) },
            None => &mut [],
        }
    }

    fn capacity(&self) -> usize {
        self.cap
    }

    fn reserve(&mut self, additional: usize) -> Result<(), String> {
        let need = self.len.saturating_add(additional);
        if need <= self.cap {
            return Ok(());
        }
        let cap = need.max(self.cap.saturating_mul(2)).max(MIN_GROW);
        self.grow_to(cap).map_err(|e| self.describe(e))
    }

    fn extend_from_slice(&mut self, values: &[f32]) -> Result<(), String> {
        self.reserve(values.len())?;
        let at = self.len;
        self.len += values.len();
        self.as_mut_slice()[at..].copy_from_slice(values);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_keeps_values_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let total = MappedBytes::default();
        let mut a = MappedVectors::create(dir.path(), total.clone()).unwrap();
        assert_eq!(
            fs::read_dir(dir.path().join(VECTORS_DIR)).unwrap().count(),
            0
        );
        assert!(a.as_slice().is_empty());
        let values: Vec<f32> = (0..100_000).map(|i| i as f32 * 0.5).collect();
        for chunk in values.chunks(777) {
            a.extend_from_slice(chunk).unwrap();
        }
        assert_eq!(a.as_slice(), values.as_slice());
        assert!(a.capacity() >= values.len());
        assert_eq!(total.load(Ordering::Relaxed), a.capacity() as u64 * 4);
        a.as_mut_slice()[3] = -1.0;
        a.truncate(10);
        assert_eq!(a.as_slice().len(), 10);
        assert_eq!(a.as_slice()[3], -1.0);
        a.extend_from_slice(&[7.0]).unwrap();
        assert_eq!(a.as_slice()[10], 7.0);
        drop(a);
        assert_eq!(total.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_full_disk_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let a = MappedVectors::create(dir.path(), MappedBytes::default()).unwrap();
        let full = a.describe(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(full.starts_with(DISK_FULL), "{full}");
        let other = a.describe(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!other.starts_with(DISK_FULL), "{other}");
    }
}
