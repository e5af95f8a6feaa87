//! Streaming HTTP/1.x message encoder: a head and body pieces in, wire bytes out.
//!
//! A body is held back until it passes `buffer_size` (16 KiB by default, as Pipy does) so small
//! bodies get a `content-length`; past that the message switches to chunked streaming.

use super::block::encode_piece;
use super::chunked::{CHUNK_END, LAST_CHUNK, MAX_CHUNK_SIZE_LINE, encode_chunk_size};
use super::encode::{OutFraming, write_request_head, write_response_head};
use super::head::{RequestHead, ResponseHead};
use crate::engine::data::Data;
use bytes::{Bytes, BytesMut};

/// Default size up to which a body is buffered to send it with a content-length.
pub const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;

/// Bodies up to this size are copied behind their head into one piece: copying a few hundred
/// bytes costs less than the second chunk does (a rope node to allocate, an iovec to write).
const BODY_COPIED_BEHIND_HEAD: usize = 1024;

/// Room reserved for an encoded head; longer heads grow their buffer.
const HEAD_ROOM: usize = 256;

/// The head being encoded.
#[derive(Debug)]
pub enum OutHead {
    Request(RequestHead),
    Response(ResponseHead),
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// Head known, body being buffered.
    Buffering {
        head: OutHead,
        body: Data,
    },
    /// Head written with chunked framing; body streamed as chunks.
    Chunked,
    /// Bodiless message: head written, body dropped.
    Bodiless,
}

pub struct MessageEncoder {
    phase: Phase,
    buffer_size: usize,
    keep_alive: bool,
}

impl MessageEncoder {
    pub fn new(buffer_size: usize) -> MessageEncoder {
        MessageEncoder {
            phase: Phase::Idle,
            buffer_size,
            keep_alive: true,
        }
    }

    /// Starts a message. `bodiless`: a response to HEAD, or a 1xx/204/304 (no body on the wire).
    pub fn start(&mut self, head: OutHead, keep_alive: bool, bodiless: bool, out: &mut Data) {
        self.keep_alive = keep_alive;
        let bodiless = bodiless
            || matches!(&head, OutHead::Response(r) if r.status < 200 || r.status == 204 || r.status == 304);
        if bodiless {
            write_head(&head, OutFraming::None, keep_alive, out);
            self.phase = Phase::Bodiless;
        } else {
            self.phase = Phase::Buffering {
                head,
                body: Data::new(),
            };
        }
    }

    pub fn body(&mut self, d: Data, out: &mut Data) {
        match &mut self.phase {
            Phase::Buffering { body, .. } => {
                body.push_data(d);
                if body.len() > self.buffer_size {
                    let Phase::Buffering { head, body } =
                        std::mem::replace(&mut self.phase, Phase::Chunked)
                    else {
                        return;
                    };
                    write_head(&head, OutFraming::Chunked, self.keep_alive, out);
                    write_chunk(body, out);
                }
            }
            Phase::Chunked => write_chunk(d, out),
            Phase::Bodiless | Phase::Idle => {}
        }
    }

    /// Ends the message.
    pub fn end(&mut self, out: &mut Data) {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Buffering { head, body } => {
                let framing = OutFraming::Length(body.len() as u64);
                if body.len() <= BODY_COPIED_BEHIND_HEAD {
                    out.push_bytes(encode_piece(HEAD_ROOM + body.len(), |b| {
                        encode_head(&head, framing, self.keep_alive, b);
                        for c in body.chunks() {
                            b.extend_from_slice(c);
                        }
                    }));
                } else {
                    write_head(&head, framing, self.keep_alive, out);
                    out.push_data(body);
                }
            }
            Phase::Chunked => out.push_bytes(Bytes::from_static(LAST_CHUNK)),
            Phase::Bodiless | Phase::Idle => {}
        }
    }

    pub fn in_message(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }
}

fn write_head(head: &OutHead, framing: OutFraming, keep_alive: bool, out: &mut Data) {
    out.push_bytes(encode_piece(HEAD_ROOM, |b| {
        encode_head(head, framing, keep_alive, b)
    }));
}

fn encode_head(head: &OutHead, framing: OutFraming, keep_alive: bool, b: &mut BytesMut) {
    match head {
        OutHead::Response(r) => write_response_head(
            b,
            r.version,
            r.status,
            &r.reason,
            r.headers.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            framing,
            keep_alive,
        ),
        OutHead::Request(r) => write_request_head(
            b,
            &r.method,
            &r.path,
            r.version,
            r.headers.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            framing,
            keep_alive,
        ),
    }
}

fn write_chunk(d: Data, out: &mut Data) {
    if d.is_empty() {
        return;
    }
    out.push_bytes(encode_piece(MAX_CHUNK_SIZE_LINE, |b| {
        encode_chunk_size(d.len(), b)
    }));
    out.push_data(d);
    out.push_bytes(Bytes::from_static(CHUNK_END));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{Headers, Version};

    /// Encodes a `200 OK` response with `body` and no headers of its own.
    fn response(body: Bytes) -> Data {
        let head = OutHead::Response(ResponseHead {
            version: Version::Http11,
            status: 200,
            reason: Bytes::from_static(b"OK"),
            headers: Headers::new(),
        });
        let mut enc = MessageEncoder::new(DEFAULT_BUFFER_SIZE);
        let mut out = Data::new();
        enc.start(head, true, false, &mut out);
        enc.body(Data::from(body), &mut out);
        enc.end(&mut out);
        out
    }

    fn wire(body: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n",
            body.len()
        )
        .into_bytes();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn a_small_body_goes_out_in_one_piece_with_its_head() {
        let body = Bytes::from(vec![b'a'; BODY_COPIED_BEHIND_HEAD]);
        let out = response(body.clone());
        assert_eq!(out.chunk_count(), 1);
        assert_eq!(&out.to_bytes()[..], &wire(&body)[..]);
    }

    #[test]
    fn a_larger_body_follows_its_head_uncopied() {
        let body = Bytes::from(vec![b'b'; BODY_COPIED_BEHIND_HEAD + 1]);
        let out = response(body.clone());
        let chunks: Vec<&Bytes> = out.chunks().collect();
        assert_eq!(chunks.len(), 2);
        // The body is the very buffer passed in, not a copy of it.
        assert_eq!(chunks[1].as_ptr(), body.as_ptr());
        assert_eq!(&out.to_bytes()[..], &wire(&body)[..]);
    }
}
