//! Streaming HTTP/1.x message decoder: bytes in, heads and zero-copy body pieces out.

use super::chunked::ChunkedDecoder;
use super::framing::{BodyFraming, request_framing, response_framing};
use super::head::{
    ParseError, Parsed, RequestHead, ResponseHead, parse_request_head, parse_response_head,
};
use crate::engine::data::{Data, Piece};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// What the decoder found.
#[derive(Debug)]
pub enum Decoded {
    Request(RequestHead, BodyFraming),
    Response(ResponseHead),
    Body(Data),
    End,
}

/// Which side of the exchange the decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Request,
    Response,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for (more of) a head.
    Head,
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    /// A decode error happened; everything else is ignored.
    Failed,
}

/// Per-response facts the response decoder needs from the request (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts {
    pub head: bool,
    pub connect: bool,
}

impl RequestFacts {
    pub fn of(h: &RequestHead) -> RequestFacts {
        RequestFacts {
            head: h.method.as_ref() == b"HEAD",
            connect: h.method.as_ref() == b"CONNECT",
        }
    }
}

pub struct MessageDecoder {
    reads: Reads,
    phase: Phase,
    /// Unparsed head bytes carried over from previous input.
    pending: Bytes,
}

/// What a decoder reads, with what reading it needs.
enum Reads {
    Requests,
    /// Responses, with the facts of the requests whose responses are still to come, oldest
    /// first. Boxed: a server holds a request decoder for every idle client connection, and
    /// an inline queue would add 24 bytes to each.
    #[allow(clippy::box_collection)] // boxed for the size of `Reads`, as said above
    Responses(Box<VecDeque<RequestFacts>>),
}

impl MessageDecoder {
    pub fn new(side: Side) -> MessageDecoder {
        MessageDecoder {
            reads: match side {
                Side::Request => Reads::Requests,
                Side::Response => Reads::Responses(Box::default()),
            },
            phase: Phase::Head,
            pending: Bytes::new(),
        }
    }

    /// Response side: the next response answers a request with these facts.
    pub fn expect_response(&mut self, facts: RequestFacts) {
        if let Reads::Responses(requests) = &mut self.reads {
            requests.push_back(facts);
        }
    }

    /// True between messages (nothing partially decoded).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head) && self.pending.is_empty()
    }

    /// Body bytes the current message's framing still promises: the rest of a
    /// `content-length` body or of the current chunk of a chunked one; `None` between
    /// messages, between chunks and in a read-until-close body (which may end at any byte).
    pub fn body_remaining(&self) -> Option<u64> {
        match &self.phase {
            Phase::Length(rem) => Some(*rem),
            Phase::Chunked(dec) => dec.data_remaining(),
            _ => None,
        }
    }

    /// Decodes every piece of `data`; on an error, what came before it has been emitted.
    /// A piece still in a pipe that lies within the body's framing is passed on as it is.
    pub fn feed_data(
        &mut self,
        data: Data,
        out: &mut impl FnMut(Decoded),
    ) -> Result<(), ParseError> {
        for piece in data.into_pieces() {
            match piece {
                Piece::Mem(b) => self.feed(b, out)?,
                p => {
                    if let Some(p) = self.pass_body(p, out) {
                        self.feed(p.into_bytes(), out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Emits a piped piece as body without looking at it when the framing promises at least
    /// its length (as the receive low-water mark that made it ensures); returns it otherwise.
    fn pass_body(&mut self, p: Piece, out: &mut impl FnMut(Decoded)) -> Option<Piece> {
        let n = p.len() as u64;
        let within = match &mut self.phase {
            Phase::Length(rem) if *rem >= n => {
                *rem -= n;
                true
            }
            Phase::Chunked(dec) if dec.data_remaining().is_some_and(|r| r >= n) => {
                dec.skip_data(n);
                true
            }
            _ => false,
        };
        if !within {
            return Some(p);
        }
        out(Decoded::Body(Data::from(p)));
        if matches!(self.phase, Phase::Length(0)) {
            self.phase = Phase::Head;
            out(Decoded::End);
        }
        None
    }

    /// Decodes one chunk of input.
    pub fn feed(
        &mut self,
        mut input: Bytes,
        out: &mut impl FnMut(Decoded),
    ) -> Result<(), ParseError> {
        while !input.is_empty() {
            match &mut self.phase {
                Phase::Failed => return Ok(()),
                Phase::Head => {
                    let buf = if self.pending.is_empty() {
                        std::mem::take(&mut input)
                    } else {
                        let mut b = BytesMut::with_capacity(self.pending.len() + input.len());
                        b.extend_from_slice(&self.pending);
                        b.extend_from_slice(&input);
                        input = Bytes::new();
                        self.pending = Bytes::new();
                        b.freeze()
                    };
                    match self.parse_head(&buf, out) {
                        Ok(Some(n)) => input = buf.slice(n..),
                        Ok(None) => self.pending = buf,
                        Err(e) => {
                            self.phase = Phase::Failed;
                            return Err(e);
                        }
                    }
                }
                Phase::Length(rem) => {
                    let k = (*rem).min(input.len() as u64) as usize;
                    out(Decoded::Body(Data::from(input.split_to(k))));
                    *rem -= k as u64;
                    if *rem == 0 {
                        self.phase = Phase::Head;
                        out(Decoded::End);
                    }
                }
                Phase::Chunked(dec) => {
                    let done =
                        match dec.decode(&mut input, &mut |b| out(Decoded::Body(Data::from(b)))) {
                            Ok(d) => d,
                            Err(e) => {
                                self.phase = Phase::Failed;
                                return Err(e);
                            }
                        };
                    if done {
                        self.phase = Phase::Head;
                        out(Decoded::End);
                    }
                }
                Phase::UntilClose => {
                    out(Decoded::Body(Data::from(std::mem::take(&mut input))));
                }
            }
        }
        Ok(())
    }

    /// The input ended. A read-until-close body ends here; anything else half-done is an error.
    pub fn eof(&mut self, out: &mut impl FnMut(Decoded)) -> Result<(), ParseError> {
        match self.phase {
            Phase::UntilClose => {
                self.phase = Phase::Head;
                out(Decoded::End);
                Ok(())
            }
            Phase::Head if self.pending.is_empty() => Ok(()),
            Phase::Failed => Ok(()),
            _ => {
                self.phase = Phase::Failed;
                Err(ParseError::Malformed("stream ended inside a message"))
            }
        }
    }

    /// Returns bytes consumed, or None when the head is incomplete.
    fn parse_head(
        &mut self,
        buf: &Bytes,
        out: &mut impl FnMut(Decoded),
    ) -> Result<Option<usize>, ParseError> {
        match &mut self.reads {
            Reads::Requests => match parse_request_head(buf)? {
                Parsed::Partial => Ok(None),
                Parsed::Complete(head, n) => {
                    let framing = request_framing(&head)?;
                    out(Decoded::Request(head, framing));
                    self.start_body(framing, out);
                    Ok(Some(n))
                }
            },
            Reads::Responses(requests) => match parse_response_head(buf)? {
                Parsed::Partial => Ok(None),
                Parsed::Complete(head, n) => {
                    // 1xx interim responses do not answer the request.
                    let interim = head.status < 200;
                    let facts = if interim {
                        requests.front().copied().unwrap_or_default()
                    } else {
                        requests.pop_front().unwrap_or_default()
                    };
                    let framing = response_framing(&head, facts.head, facts.connect)?;
                    if interim {
                        return Ok(Some(n));
                    }
                    out(Decoded::Response(head));
                    self.start_body(framing, out);
                    Ok(Some(n))
                }
            },
        }
    }

    fn start_body(&mut self, framing: BodyFraming, out: &mut impl FnMut(Decoded)) {
        self.phase = match framing {
            BodyFraming::None | BodyFraming::Length(0) => {
                out(Decoded::End);
                Phase::Head
            }
            BodyFraming::Length(n) => Phase::Length(n),
            BodyFraming::Chunked => Phase::Chunked(ChunkedDecoder::new()),
            BodyFraming::UntilClose => Phase::UntilClose,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(decoder: &mut MessageDecoder, bytes: &'static [u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        decoder
            .feed(Bytes::from_static(bytes), &mut |d| out.push(d))
            .expect("valid response");
        out
    }

    #[test]
    fn body_remaining_counts_down_content_length_and_chunk_data() {
        let mut d = MessageDecoder::new(Side::Response);
        d.expect_response(RequestFacts::default());
        d.expect_response(RequestFacts::default());
        assert_eq!(d.body_remaining(), None);
        response(&mut d, b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n1234");
        assert_eq!(d.body_remaining(), Some(6));
        response(&mut d, b"567890");
        assert_eq!(d.body_remaining(), None, "between messages");
        response(
            &mut d,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\nab",
        );
        assert_eq!(d.body_remaining(), Some(8), "the rest of the current chunk");
        response(&mut d, b"cdefghij\r\n");
        assert_eq!(d.body_remaining(), None, "between chunks");
        response(&mut d, b"0\r\n\r\n");
        assert_eq!(d.body_remaining(), None, "between messages");
    }

    fn piped(bytes: &[u8]) -> Data {
        Data::from(Piece::Piped(Box::new(crate::engine::piped::piped(bytes))))
    }

    fn feed(decoder: &mut MessageDecoder, data: Data) -> Vec<Decoded> {
        let mut out = Vec::new();
        decoder
            .feed_data(data, &mut |d| out.push(d))
            .expect("valid");
        out
    }

    #[test]
    fn a_piped_piece_within_the_body_passes_unread() {
        let mut d = MessageDecoder::new(Side::Response);
        d.expect_response(RequestFacts::default());
        response(&mut d, b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n");
        let out = feed(&mut d, piped(b"0123456789"));
        let [Decoded::Body(mut body)] = <[Decoded; 1]>::try_from(out).expect("one piece") else {
            panic!("not a body")
        };
        assert!(body.front_in_pipe().is_some(), "the decoder looked at it");
        assert_eq!(d.body_remaining(), Some(2));
        let out = feed(&mut d, piped(b"ab"));
        assert!(matches!(out.as_slice(), [Decoded::Body(_), Decoded::End]));
        assert_eq!(d.body_remaining(), None);
    }

    #[test]
    fn a_piped_piece_past_the_body_is_read_and_split() {
        let mut d = MessageDecoder::new(Side::Response);
        d.expect_response(RequestFacts::default());
        d.expect_response(RequestFacts::default());
        response(&mut d, b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n");
        let out = feed(&mut d, piped(b"abcHTTP/1.1 204 No Content\r\n\r\n"));
        assert_eq!(out.len(), 4, "{out:?}");
        assert!(matches!(&out[0], Decoded::Body(b) if b.to_vec() == b"abc"));
        assert!(matches!(out[1], Decoded::End));
        assert!(matches!(&out[2], Decoded::Response(h) if h.status == 204));
        assert!(matches!(out[3], Decoded::End));
    }

    #[test]
    fn a_piped_piece_within_a_chunk_passes_unread() {
        let mut d = MessageDecoder::new(Side::Response);
        d.expect_response(RequestFacts::default());
        response(
            &mut d,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n",
        );
        let out = feed(&mut d, piped(b"01234567"));
        assert!(matches!(&out[..], [Decoded::Body(b)] if b.len() == 8));
        assert_eq!(d.body_remaining(), None, "after the chunk's data");
        let out = feed(&mut d, Data::from("\r\n0\r\n\r\n"));
        assert!(matches!(out.as_slice(), [Decoded::End]));
    }

    #[test]
    fn body_remaining_is_none_for_a_body_read_until_close() {
        let mut d = MessageDecoder::new(Side::Response);
        d.expect_response(RequestFacts::default());
        response(&mut d, b"HTTP/1.1 200 OK\r\n\r\nsome");
        assert_eq!(d.body_remaining(), None);
    }
}
