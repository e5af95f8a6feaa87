//! `Data`: a rope of `bytes::Bytes` chunks. Splitting a read buffer into body pieces and passing them
//! through filters never copies the bytes.

use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;

/// A byte string made of shared chunks. An empty `Data` is the flush marker of the event stream.
///
/// Most events carry a single chunk (one read, one encoded head), so one chunk is stored inline
/// and the deque is only allocated for longer ropes. The deque is boxed: every event and queued
/// job carries a `Data`'s size, and each is moved several times per pipeline hop (48 bytes
/// instead of 72).
#[derive(Clone, Default, Debug)]
pub struct Data {
    first: Option<Bytes>,
    // The box is the point: it keeps the deque's 32-byte header out of every event.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Bytes>>>,
    len: usize,
}

impl Data {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_static(b: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(b))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a chunk without copying.
    pub fn push_bytes(&mut self, b: Bytes) {
        if b.is_empty() {
            return;
        }
        self.len += b.len();
        if self.first.is_none() {
            self.first = Some(b);
        } else {
            self.rest.get_or_insert_default().push_back(b);
        }
    }

    /// Appends all chunks of `other` without copying.
    pub fn push_data(&mut self, other: Data) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for c in other.into_chunks() {
            self.push_bytes(c);
        }
    }

    pub fn push_slice(&mut self, s: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(s));
    }

    fn pop_front(&mut self) -> Option<Bytes> {
        let f = self.first.take()?;
        self.first = self.rest.as_mut().and_then(|r| r.pop_front());
        self.len -= f.len();
        if self.first.is_none() {
            // Long-lived queues (socket write buffers) keep no memory while empty.
            self.rest = None;
        }
        Some(f)
    }

    fn push_front(&mut self, b: Bytes) {
        self.len += b.len();
        if let Some(f) = self.first.replace(b) {
            self.rest.get_or_insert_default().push_front(f);
        }
    }

    /// Removes and returns the first `n` bytes (or all, when shorter).
    pub fn shift(&mut self, n: usize) -> Data {
        let mut out = Data::new();
        let mut left = n.min(self.len);
        while left > 0 {
            let Some(mut front) = self.pop_front() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                out.push_bytes(front);
            } else {
                let head = front.split_to(left);
                left = 0;
                out.push_bytes(head);
                self.push_front(front);
            }
        }
        out
    }

    pub fn clear(&mut self) {
        self.first = None;
        if let Some(r) = &mut self.rest {
            r.clear();
        }
        self.len = 0;
    }

    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.first
            .iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    pub fn into_chunks(self) -> impl Iterator<Item = Bytes> {
        self.first
            .into_iter()
            .chain(self.rest.into_iter().flat_map(|r| *r))
    }

    pub fn chunk_count(&self) -> usize {
        self.first.is_some() as usize + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// The bytes as one contiguous buffer; free when there is a single chunk.
    pub fn to_bytes(&self) -> Bytes {
        match (&self.first, self.rest.as_ref().is_none_or(|r| r.is_empty())) {
            (None, _) => Bytes::new(),
            (Some(f), true) => f.clone(),
            _ => {
                let mut b = BytesMut::with_capacity(self.len);
                for c in self.chunks() {
                    b.extend_from_slice(c);
                }
                b.freeze()
            }
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks() {
            v.extend_from_slice(c);
        }
        v
    }

    /// Lossy UTF-8 text of the bytes (one copy; `to_bytes` is free for a single chunk).
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }

    /// Removes `n` leading bytes (after a partial `writev`).
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.first.as_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                let _ = self.pop_front();
            } else {
                front.advance(n);
                self.len -= n;
                n = 0;
            }
        }
    }
}

impl From<Bytes> for Data {
    fn from(b: Bytes) -> Self {
        let mut d = Data::new();
        d.push_bytes(b);
        d
    }
}

impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Self {
        Data::from(Bytes::from(v))
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Self {
        Data::from(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl PartialEq<[u8]> for Data {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len() && self.to_vec() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_splits_chunks_without_copy() {
        let (a, b) = (Bytes::from_static(b"hello "), Bytes::from_static(b"world"));
        let mut d = Data::new();
        d.push_bytes(a.clone());
        d.push_bytes(b.clone());
        let head = d.shift(8);
        assert_eq!(head.to_vec(), b"hello wo");
        assert_eq!(d.to_vec(), b"rld");
        assert_eq!(d.len(), 3);
        // Both parts point into the original buffers.
        let pieces: Vec<*const u8> = head.chunks().map(|c| c.as_ptr()).collect();
        assert_eq!(pieces, [a.as_ptr(), b.as_ptr()]);
        assert_eq!(d.chunks().next().map(|c| c.as_ptr()), Some(b[2..].as_ptr()));
    }

    #[test]
    fn consume_across_chunks() {
        let mut d = Data::from("abc");
        d.push_slice(b"def");
        d.consume(4);
        assert_eq!(d.to_vec(), b"ef");
        assert_eq!(d.len(), 2);
        assert_eq!(d.chunk_count(), 1);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn events_stay_small() {
        // Events are moved through queues and stacks at every pipeline hop.
        assert_eq!(std::mem::size_of::<Data>(), 48);
        assert!(std::mem::size_of::<crate::engine::event::Event>() <= 56);
    }

    #[test]
    fn a_rope_empties_and_grows_again() {
        let mut d = Data::new();
        for piece in ["ab", "cd", "ef"] {
            d.push_slice(piece.as_bytes());
        }
        assert_eq!(d.chunk_count(), 3);
        d.consume(6);
        assert!(d.is_empty());
        assert_eq!(d.chunk_count(), 0);
        d.push_slice(b"gh");
        d.push_slice(b"ij");
        let mut copy = d.clone();
        copy.clear();
        assert_eq!(copy.chunk_count(), 0);
        assert_eq!(d.to_bytes(), &b"ghij"[..]);
        let chunks: Vec<Bytes> = d.into_chunks().collect();
        assert_eq!(chunks, [&b"gh"[..], &b"ij"[..]]);
    }
}
