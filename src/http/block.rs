//! The per-thread block that small encoded pieces (message heads, chunk-size lines) are cut from.
//!
//! Encoding a head into its own `BytesMut` and freezing it cost two allocations per message (the
//! buffer and, since a head rarely fills its buffer exactly, the shared header `bytes` adds when
//! freezing). Cutting pieces off one larger block costs one allocation per block: a cut piece
//! only bumps the block's reference count. A block is freed when the last piece cut from it has
//! been written out, so pieces waiting in a slow client's output queue keep at most their own
//! blocks alive.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

/// Size of a fresh block: room for ~20 typical proxied heads.
const BLOCK_SIZE: usize = 4096;

thread_local! {
    static BLOCK: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Runs `encode` on an empty buffer that has room for at least `room` bytes (it may write more;
/// the buffer then grows as a `BytesMut` does) and returns what it wrote.
pub fn encode_piece(room: usize, encode: impl FnOnce(&mut BytesMut)) -> Bytes {
    BLOCK.with(|block| match block.try_borrow_mut() {
        Ok(mut b) => {
            if b.capacity() < room {
                // Reclaims the block in place when no earlier piece is still alive.
                b.reserve(room.max(BLOCK_SIZE));
            }
            encode(&mut b);
            b.split().freeze()
        }
        // Only reachable if `encode` itself encodes a piece; give it a buffer of its own.
        Err(_) => {
            let mut b = BytesMut::with_capacity(room);
            encode(&mut b);
            b.freeze()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_independent_and_outlive_their_block() {
        let a = encode_piece(16, |b| b.extend_from_slice(b"first"));
        let b = encode_piece(16, |b| b.extend_from_slice(b"second"));
        // Longer than the room asked for and than a block: the buffer grows.
        let long = vec![b'x'; BLOCK_SIZE * 2];
        let c = encode_piece(4, |b| b.extend_from_slice(&long));
        let d = encode_piece(0, |_| {});
        assert_eq!(&a[..], b"first");
        assert_eq!(&b[..], b"second");
        // Consecutive small pieces are cut from one block, not allocated one by one.
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr());
        assert_eq!(&c[..], &long[..]);
        assert!(d.is_empty());
        drop(a);
        let e = encode_piece(BLOCK_SIZE, |b| b.extend_from_slice(b"after"));
        assert_eq!(&b[..], b"second");
        assert_eq!(&e[..], b"after");
    }

    #[test]
    fn a_piece_encoded_while_encoding_a_piece_gets_its_own_buffer() {
        let mut inner = Bytes::new();
        let outer = encode_piece(8, |b| {
            b.extend_from_slice(b"out");
            inner = encode_piece(8, |b| b.extend_from_slice(b"in"));
            b.extend_from_slice(b"er");
        });
        assert_eq!(&outer[..], b"outer");
        assert_eq!(&inner[..], b"in");
    }
}
