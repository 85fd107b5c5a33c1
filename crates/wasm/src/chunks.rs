//! Bytes of the portable format held by JS as `Uint8Array` chunks (a
//! stream's chunks, or one array): the core's loader reads them through
//! [`ByteSource`], so only one 64 KiB block at a time is copied into wasm
//! memory, never the whole bytes.

use grape_core::{ByteSource, Error, Result};
use js_sys::{Array, Function, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// `Uint8Array`s end to end. Once the loader has consumed a chunk, the
/// source drops its handle and, for an array the caller passed, sets the
/// array's entry to `undefined`, so that the garbage collector can free the
/// chunk while the rest is decoded.
pub(crate) struct Chunks {
    /// The caller's array, whose consumed entries are cleared.
    array: Option<Array>,
    chunks: Vec<Option<Uint8Array>>,
    /// Offset of each chunk's first byte.
    starts: Vec<u64>,
    len: u64,
    /// Chunks before this one are released.
    released: usize,
    /// Called with each chunk as it is released (`fromStream` frees the
    /// buffers it allocated at once, without waiting for the collector).
    release: Option<Function>,
}

impl Chunks {
    /// One `Uint8Array` (`fromBytes`); anything else is an argument error.
    pub(crate) fn one(bytes: JsValue, what: &str) -> Result<Chunks> {
        let bytes = bytes
            .dyn_into::<Uint8Array>()
            .map_err(|_| Error::InvalidQuery(format!("{what}: expected a Uint8Array")))?;
        let len = u64::from(bytes.length());
        Ok(Chunks {
            array: None,
            chunks: vec![Some(bytes)],
            starts: vec![0],
            len,
            released: 0,
            release: None,
        })
    }

    /// An array of `Uint8Array`s (`fromChunks`); empty ones are allowed.
    pub(crate) fn array(value: JsValue, release: Option<Function>, what: &str) -> Result<Chunks> {
        let array = value
            .dyn_into::<Array>()
            .map_err(|_| Error::InvalidQuery(format!("{what}: expected an array")))?;
        let mut chunks = Vec::with_capacity(array.length() as usize);
        let mut starts = Vec::with_capacity(array.length() as usize);
        let mut len = 0u64;
        for (i, item) in array.iter().enumerate() {
            let chunk = item
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::InvalidQuery(format!("{what}[{i}]: expected a Uint8Array")))?;
            starts.push(len);
            len += u64::from(chunk.length());
            chunks.push(Some(chunk));
        }
        Ok(Chunks {
            array: Some(array),
            chunks,
            starts,
            len,
            released: 0,
            release,
        })
    }
}

impl ByteSource for Chunks {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        // The last chunk starting at or before `offset` (skips empty ones).
        let mut i = self.starts.partition_point(|&s| s <= offset) - 1;
        let mut done = 0;
        while done < buf.len() {
            let chunk = self
                .chunks
                .get(i)
                .and_then(Option::as_ref)
                .ok_or_else(|| Error::Corrupted("read of a released chunk".into()))?;
            // Offsets within a chunk fit in u32 (a Uint8Array's length does).
            let from = (offset + done as u64 - self.starts[i]) as u32;
            let n = (chunk.length() - from).min((buf.len() - done) as u32);
            chunk
                .subarray(from, from + n)
                .copy_to(&mut buf[done..done + n as usize]);
            done += n as usize;
            i += 1;
        }
        Ok(())
    }

    fn consumed(&mut self, up_to: u64) {
        while self.released < self.chunks.len() {
            let i = self.released;
            let end = self.starts.get(i + 1).copied().unwrap_or(self.len);
            if end > up_to {
                break;
            }
            let chunk = self.chunks[i].take();
            if let (Some(release), Some(chunk)) = (&self.release, chunk) {
                // A failing callback only delays the release to the collector.
                let _ = release.call1(&JsValue::UNDEFINED, &chunk);
            }
            if let Some(array) = &self.array {
                array.set(i as u32, JsValue::UNDEFINED);
            }
            self.released += 1;
        }
    }
}
