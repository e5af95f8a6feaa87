//! `Data`: a rope of byte pieces. Splitting a read buffer into body pieces and passing them
//! through filters never copies the bytes; nor does relaying a bulk body, whose pieces may
//! wait in a kernel pipe until a socket splices them out (`engine::piped`).

use super::piped::PipedBytes;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;

/// One piece of a `Data`.
#[derive(Debug)]
pub enum Piece {
    Mem(Bytes),
    /// Body bytes spliced from a socket into a pipe; boxed to keep a piece at the size of a
    /// `Bytes`.
    Piped(Box<PipedBytes>),
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Mem(b) => b.len(),
            Piece::Piped(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the bytes still wait in a pipe (nothing has looked at them).
    pub fn in_pipe(&self) -> bool {
        matches!(self, Piece::Piped(p) if p.in_pipe())
    }

    /// The bytes; a piped piece copies them out of its pipe the first time.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Piece::Mem(b) => b,
            Piece::Piped(p) => p.bytes(),
        }
    }

    pub fn into_bytes(self) -> Bytes {
        match self {
            Piece::Mem(b) => b,
            Piece::Piped(p) => p.bytes().clone(),
        }
    }
}

impl Default for Piece {
    fn default() -> Piece {
        NONE
    }
}

impl Clone for Piece {
    /// A copy of a piped piece shares its bytes in memory: a pipe has one reader.
    fn clone(&self) -> Piece {
        Piece::Mem(self.bytes().clone())
    }
}

/// The empty piece standing for no piece.
const NONE: Piece = Piece::Mem(Bytes::new());

/// A byte string made of shared chunks. An empty `Data` is the flush marker of the event stream.
///
/// Most events carry a single chunk (one read, one encoded head), so one chunk is stored inline
/// and the deque is only allocated for longer ropes. The deque is boxed: every event and queued
/// job carries a `Data`'s size, and each is moved several times per pipeline hop (48 bytes
/// instead of 72).
#[derive(Clone, Default, Debug)]
pub struct Data {
    /// `NONE` (an empty piece) when the rope is empty: an `Option` would not fit the size.
    first: Piece,
    // The box is the point: it keeps the deque's 32-byte header out of every event.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Piece>>>,
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
        self.push_piece(Piece::Mem(b));
    }

    /// Appends a piece without copying.
    pub fn push_piece(&mut self, p: Piece) {
        // Every read and every encoded head passes here: the piece's length is asked once.
        let n = p.len();
        if n == 0 {
            return;
        }
        if self.len == 0 {
            self.first = p;
        } else {
            self.rest.get_or_insert_default().push_back(p);
        }
        self.len += n;
    }

    /// Appends all pieces of `other` without copying.
    pub fn push_data(&mut self, other: Data) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for p in other.into_pieces() {
            self.push_piece(p);
        }
    }

    pub fn push_slice(&mut self, s: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(s));
    }

    fn pop_front(&mut self) -> Option<Piece> {
        if self.first.is_empty() {
            return None;
        }
        let next = self.rest.as_mut().and_then(|r| r.pop_front());
        let f = std::mem::replace(&mut self.first, next.unwrap_or(NONE));
        self.len -= f.len();
        if self.first.is_empty() {
            // Long-lived queues (socket write buffers) keep no memory while empty.
            self.rest = None;
        }
        Some(f)
    }

    fn push_front(&mut self, p: Piece) {
        self.len += p.len();
        let f = std::mem::replace(&mut self.first, p);
        if !f.is_empty() {
            self.rest.get_or_insert_default().push_front(f);
        }
    }

    /// Removes and returns the first `n` bytes (or all, when shorter). A piped piece cut in
    /// two is copied out of its pipe first.
    pub fn shift(&mut self, n: usize) -> Data {
        let mut out = Data::new();
        let mut left = n.min(self.len);
        while left > 0 {
            let Some(front) = self.pop_front() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                out.push_piece(front);
            } else {
                let mut rest = front.into_bytes();
                let head = rest.split_to(left);
                left = 0;
                out.push_bytes(head);
                self.push_front(Piece::Mem(rest));
            }
        }
        out
    }

    pub fn clear(&mut self) {
        self.first = NONE;
        if let Some(r) = &mut self.rest {
            r.clear();
        }
        self.len = 0;
    }

    pub fn pieces(&self) -> impl Iterator<Item = &Piece> {
        Some(&self.first)
            .filter(|f| !f.is_empty())
            .into_iter()
            .chain(self.rest.iter().flat_map(|r| r.iter()))
    }

    pub fn into_pieces(self) -> impl Iterator<Item = Piece> {
        Some(self.first)
            .filter(|f| !f.is_empty())
            .into_iter()
            .chain(self.rest.into_iter().flat_map(|r| *r))
    }

    /// The bytes piece by piece; piped pieces are copied out of their pipes.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces().map(Piece::bytes)
    }

    /// The bytes piece by piece; piped pieces are copied out of their pipes.
    pub fn into_chunks(self) -> impl Iterator<Item = Bytes> {
        self.into_pieces().map(Piece::into_bytes)
    }

    pub fn chunk_count(&self) -> usize {
        !self.first.is_empty() as usize + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// Copies piped pieces out of their pipes, for holders that keep bytes for long (a
    /// script's `Data`): a pipe is two descriptors, and a worker has few of them.
    pub fn materialize(&mut self) {
        let rest = self.rest.iter_mut().flat_map(|r| r.iter_mut());
        for p in std::iter::once(&mut self.first).chain(rest) {
            if let Piece::Piped(_) = p {
                *p = Piece::Mem(p.bytes().clone());
            }
        }
    }

    /// The first piece, when its bytes still wait in a pipe: a writer splices it out and
    /// reports what left with [`Self::spliced`].
    pub fn front_in_pipe(&mut self) -> Option<&mut PipedBytes> {
        match &mut self.first {
            Piece::Piped(p) if p.in_pipe() => Some(p),
            _ => None,
        }
    }

    /// `n` bytes of the first piece left its pipe (see [`Self::front_in_pipe`]).
    pub fn spliced(&mut self, n: usize) {
        self.len -= n;
        if self.first.is_empty() {
            let next = self.rest.as_mut().and_then(|r| r.pop_front());
            self.first = next.unwrap_or(NONE);
            if self.first.is_empty() {
                self.rest = None;
            }
        }
    }

    /// The leading bytes in memory: every piece before the first one still in a pipe.
    pub fn leading_bytes(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces().take_while(|p| !p.in_pipe()).map(Piece::bytes)
    }

    /// The bytes as one contiguous buffer; free when there is a single chunk.
    pub fn to_bytes(&self) -> Bytes {
        match (&self.first, self.rest.as_ref().is_none_or(|r| r.is_empty())) {
            (f, _) if f.is_empty() => Bytes::new(),
            (f, true) => f.bytes().clone(),
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

    /// Removes `n` leading bytes (after a partial write). A piped piece cut in two is copied
    /// out of its pipe first; a writer that spliced uses [`Self::spliced`] instead.
    pub fn consume(&mut self, mut n: usize) {
        if n >= self.len {
            // The common case: a write took the whole queue.
            *self = Data::new();
            return;
        }
        while n > 0 {
            let front = &mut self.first;
            if front.is_empty() {
                return;
            }
            if front.len() <= n {
                n -= front.len();
                let _ = self.pop_front();
            } else {
                if let Piece::Piped(_) = front {
                    *front = Piece::Mem(front.bytes().clone());
                }
                if let Piece::Mem(b) = front {
                    b.advance(n);
                }
                self.len -= n;
                n = 0;
            }
        }
    }
}

impl From<Piece> for Data {
    fn from(p: Piece) -> Self {
        let mut d = Data::new();
        d.push_piece(p);
        d
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

    fn piped(bytes: &[u8]) -> Piece {
        Piece::Piped(Box::new(crate::engine::piped::piped(bytes)))
    }

    #[test]
    fn piped_pieces_pass_whole_and_are_copied_out_only_when_looked_at() {
        let mut d = Data::from("head ");
        d.push_piece(piped(b"piped body"));
        d.push_slice(b" tail");
        assert_eq!(d.len(), 20);
        assert_eq!(d.chunk_count(), 3);
        // Moving whole pieces keeps the bytes in the pipe.
        let head = d.shift(5);
        assert_eq!(head.to_vec(), b"head ");
        assert!(d.front_in_pipe().is_some());
        let mut moved = Data::new();
        moved.push_data(d);
        assert!(moved.front_in_pipe().is_some());
        assert_eq!(moved.leading_bytes().count(), 0);
        // Looking copies them out, once; the rope's length does not change.
        assert_eq!(moved.to_vec(), b"piped body tail");
        assert!(moved.front_in_pipe().is_none());
        assert_eq!(moved.len(), 15);
        assert_eq!(moved.leading_bytes().count(), 2);
    }

    #[test]
    fn cutting_or_cloning_a_piped_piece_copies_it_out() {
        let mut d = Data::from(piped(b"0123456789"));
        let copy = d.clone();
        assert!(
            d.front_in_pipe().is_none(),
            "a clone shares the copied bytes"
        );
        assert_eq!(copy.to_vec(), b"0123456789");
        let mut e = Data::from(piped(b"abcdefgh"));
        let front = e.shift(3);
        assert_eq!(front.to_vec(), b"abc");
        assert_eq!(e.to_vec(), b"defgh");
        let mut f = Data::from(piped(b"abcdefgh"));
        f.push_slice(b"ij");
        f.consume(5);
        assert_eq!(f.to_vec(), b"fghij");
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn a_writer_splices_the_front_piece_out_in_steps() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let out = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut sink, _) = l.accept().unwrap();
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let mut d = Data::from(piped(b"spliced"));
        d.push_slice(b"!");
        let Some(p) = d.front_in_pipe() else {
            panic!("not in a pipe")
        };
        let n = p.splice_to(out.as_raw_fd(), true).unwrap();
        d.spliced(n);
        assert_eq!(n, 7);
        assert_eq!(d.len(), 1);
        assert_eq!(d.chunk_count(), 1);
        assert_eq!(d.to_vec(), b"!");
        let mut got = [0u8; 7];
        sink.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"spliced");
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
