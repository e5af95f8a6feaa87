//! Chunked transfer coding (RFC 9112 §7.1): an incremental zero-copy decoder and encoding helpers.

use bytes::{Buf, Bytes, BytesMut};

use super::head::ParseError;
use super::limits::{MAX_CHUNK_LINE, MAX_TRAILER_BYTES};

/// Largest chunk size accepted; far beyond any real chunk, and keeps size arithmetic clear of overflow.
const MAX_CHUNK_SIZE: u64 = 1 << 62;

/// Where in the chunked stream the decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of chunk-size; `digits` counts those seen so far.
    Size { size: u64, digits: u32 },
    /// After chunk-size: whitespace (BWS) before `;` or CR.
    SizeWs { size: u64 },
    /// Inside chunk extensions, skipping until CR.
    Ext { size: u64 },
    /// Expecting LF ending the chunk-size line.
    SizeLf { size: u64 },
    /// Passing through chunk data.
    Data { remaining: u64 },
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, skipping until CR.
    TrailerLine,
    /// Expecting LF ending a trailer field line.
    TrailerLineLf,
    /// Expecting LF of the final empty line.
    EndLf,
    /// Last chunk and trailer section consumed.
    Done,
}

/// Incremental decoder of a chunked body. Trailer fields are validated for size and discarded.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Bytes of the current chunk-size line, bounded by `MAX_CHUNK_LINE`.
    line_len: usize,
    /// Bytes of the trailer section so far, bounded by `MAX_TRAILER_BYTES`.
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned before the first chunk-size line.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Consumes bytes from the front of `input` (advancing it with Bytes::advance/split_to, never copying body bytes),
    /// calling `out` with each body piece (zero-copy slices of input). Returns Ok(true) once the last-chunk and trailer
    /// section are fully consumed (bytes after that stay in `input`), Ok(false) when it needs more input.
    /// Errors (Malformed): bad hex, size overflow (> u64 / 2^62), missing CRLF after data, chunk-size line longer than
    /// MAX_CHUNK_LINE, trailers longer than MAX_TRAILER_BYTES. Chunk extensions are skipped. Works across any split of the
    /// input (test by feeding byte by byte and in random splits).
    ///
    /// Line endings must be CRLF: accepting a bare LF here is a known request-smuggling vector.
    pub fn decode(
        &mut self,
        input: &mut Bytes,
        out: &mut impl FnMut(Bytes),
    ) -> Result<bool, ParseError> {
        loop {
            if let State::Data { remaining } = self.state {
                if input.is_empty() {
                    return Ok(false);
                }
                let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                out(input.split_to(take));
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining }
                };
                continue;
            }
            if self.state == State::Done {
                return Ok(true);
            }
            let Some(&byte) = input.first() else {
                return Ok(false);
            };
            self.count_line_byte()?;
            self.state = self.step(byte)?;
            input.advance(1);
        }
    }

    /// Data bytes of the current chunk still to come (`None` outside a chunk's data: its size
    /// line, the CRLF after it, the trailers).
    pub fn data_remaining(&self) -> Option<u64> {
        match self.state {
            State::Data { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// `n` data bytes of the current chunk went past without being decoded (at most
    /// [`Self::data_remaining`]).
    pub fn skip_data(&mut self, n: u64) {
        if let State::Data { remaining } = self.state {
            let remaining = remaining.saturating_sub(n);
            self.state = if remaining == 0 {
                State::DataCr
            } else {
                State::Data { remaining }
            };
        }
    }

    /// Whether the last chunk and trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Enforces the chunk-size line and trailer limits for the byte about to be consumed.
    fn count_line_byte(&mut self) -> Result<(), ParseError> {
        match self.state {
            State::Size { .. }
            | State::SizeWs { .. }
            | State::Ext { .. }
            | State::SizeLf { .. } => {
                self.line_len += 1;
                if self.line_len > MAX_CHUNK_LINE {
                    return Err(ParseError::Malformed("chunk-size line too long"));
                }
            }
            State::TrailerStart | State::TrailerLine | State::TrailerLineLf | State::EndLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(ParseError::Malformed("chunked trailer section too large"));
                }
            }
            State::Data { .. } | State::DataCr | State::DataLf | State::Done => {}
        }
        Ok(())
    }

    /// The state after consuming `byte` in a byte-wise state.
    fn step(&mut self, byte: u8) -> Result<State, ParseError> {
        Ok(match self.state {
            State::Size { size, digits } => match hex_value(byte) {
                Some(d) => {
                    let size = size
                        .checked_mul(16)
                        .map(|s| s + u64::from(d))
                        .filter(|&s| s <= MAX_CHUNK_SIZE)
                        .ok_or(ParseError::Malformed("chunk size too large"))?;
                    State::Size {
                        size,
                        digits: digits + 1,
                    }
                }
                None if digits == 0 => return Err(ParseError::Malformed("invalid chunk size")),
                None => after_size(size, byte)?,
            },
            State::SizeWs { size } => after_size(size, byte)?,
            State::Ext { size } => match byte {
                b'\r' => State::SizeLf { size },
                b'\n' => return Err(ParseError::Malformed("bare LF in chunk-size line")),
                b'\t' => State::Ext { size },
                _ if byte.is_ascii_control() => {
                    return Err(ParseError::Malformed(
                        "control character in chunk extension",
                    ));
                }
                _ => State::Ext { size },
            },
            State::SizeLf { size } => {
                expect_lf(byte)?;
                self.line_len = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    State::Data { remaining: size }
                }
            }
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(ParseError::Malformed("missing CRLF after chunk data")),
            },
            State::DataLf => match byte {
                b'\n' => State::Size { size: 0, digits: 0 },
                _ => return Err(ParseError::Malformed("missing CRLF after chunk data")),
            },
            State::TrailerStart => match byte {
                b'\r' => State::EndLf,
                b'\n' => return Err(ParseError::Malformed("bare LF in chunked trailer")),
                _ => State::TrailerLine,
            },
            State::TrailerLine => match byte {
                b'\r' => State::TrailerLineLf,
                b'\n' => return Err(ParseError::Malformed("bare LF in chunked trailer")),
                _ => State::TrailerLine,
            },
            State::TrailerLineLf => {
                expect_lf(byte)?;
                State::TrailerStart
            }
            State::EndLf => {
                expect_lf(byte)?;
                State::Done
            }
            State::Data { .. } | State::Done => self.state,
        })
    }
}

/// After the size digits only BWS may come before `;` or CR (RFC 9112 §7.1.1); junk such as
/// `1 2` is rejected rather than guessed at.
fn after_size(size: u64, byte: u8) -> Result<State, ParseError> {
    match byte {
        b'\r' => Ok(State::SizeLf { size }),
        b';' => Ok(State::Ext { size }),
        b' ' | b'\t' => Ok(State::SizeWs { size }),
        b'\n' => Err(ParseError::Malformed("bare LF in chunk-size line")),
        _ => Err(ParseError::Malformed("invalid chunk size")),
    }
}

fn expect_lf(byte: u8) -> Result<(), ParseError> {
    if byte == b'\n' {
        Ok(())
    } else {
        Err(ParseError::Malformed("expected LF after CR"))
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Longest chunk-size line `encode_chunk_size` writes: every hex digit of a `usize`, then CRLF.
pub const MAX_CHUNK_SIZE_LINE: usize = 2 * std::mem::size_of::<usize>() + 2;

/// Appends the chunk-size line `{len:X}\r\n` (uppercase hex, as Pipy writes).
pub fn encode_chunk_size(len: usize, out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; MAX_CHUNK_SIZE_LINE - 2];
    let mut start = buf.len();
    let mut n = len;
    loop {
        start -= 1;
        buf[start] = HEX[n & 0xF];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[start..]);
    out.extend_from_slice(b"\r\n");
}

/// Ends the data of one chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk with an empty trailer section, ending a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of the given sizes (cycled), returning the body, whether it finished,
    /// and the leftover bytes of the last piece.
    fn decode_in_pieces(
        wire: &[u8],
        sizes: &[usize],
    ) -> Result<(Vec<u8>, bool, Vec<u8>), ParseError> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pending = Bytes::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = sizes[i % sizes.len()].max(1).min(wire.len() - pos);
            i += 1;
            let mut joined = BytesMut::from(&pending[..]);
            joined.extend_from_slice(&wire[pos..pos + n]);
            pending = joined.freeze();
            pos += n;
            if dec.decode(&mut pending, &mut |b: Bytes| body.extend_from_slice(&b))? {
                assert!(dec.is_done());
                let mut rest = pending.to_vec();
                rest.extend_from_slice(&wire[pos..]);
                return Ok((body, true, rest));
            }
        }
        Ok((body, false, pending.to_vec()))
    }

    fn decode_all(wire: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), ParseError> {
        decode_in_pieces(wire, &[wire.len().max(1)])
    }

    fn decoded(wire: &[u8]) -> Vec<u8> {
        match decode_all(wire) {
            Ok((body, true, rest)) if rest.is_empty() => body,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(wire)),
        }
    }

    fn malformed(wire: &[u8]) -> bool {
        matches!(decode_all(wire), Err(ParseError::Malformed(_)))
    }

    /// Tiny deterministic generator so the random-split test needs no extra crate.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const SAMPLE: &[u8] =
        b"5\r\nhello\r\n1;ext=\"a b\";x\r\n \r\nA \t;k=v\r\n0123456789\r\n0\r\nx-trailer: 1\r\nx-b: 2\r\n\r\nNEXT";
    const SAMPLE_BODY: &[u8] = b"hello 0123456789";

    #[test]
    fn decodes_whole_input() {
        let (body, done, rest) = decode_all(SAMPLE).expect("decode");
        assert!(done);
        assert_eq!(body, SAMPLE_BODY);
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn decodes_every_two_way_split() {
        for cut in 1..SAMPLE.len() {
            let mut dec = ChunkedDecoder::new();
            let mut body = Vec::new();
            let mut first = Bytes::copy_from_slice(&SAMPLE[..cut]);
            let done = dec.decode(&mut first, &mut |b: Bytes| body.extend_from_slice(&b));
            let message_len = SAMPLE.len() - b"NEXT".len();
            assert_eq!(done, Ok(cut >= message_len), "cut {cut}");
            let mut second = BytesMut::from(&first[..]);
            second.extend_from_slice(&SAMPLE[cut..]);
            let mut second = second.freeze();
            let done = dec.decode(&mut second, &mut |b: Bytes| body.extend_from_slice(&b));
            assert_eq!(done, Ok(true), "cut {cut}");
            assert_eq!(body, SAMPLE_BODY, "cut {cut}");
            assert_eq!(&second[..], b"NEXT", "cut {cut}");
        }
    }

    #[test]
    fn unconsumed_bytes_stay_only_within_lines() {
        // The decoder consumes everything it is given before the end, so the caller never has to
        // keep unconsumed body bytes around.
        let mut dec = ChunkedDecoder::new();
        let mut input = Bytes::from_static(b"5\r\nhel");
        let mut body = Vec::new();
        assert_eq!(
            dec.decode(&mut input, &mut |b: Bytes| body.extend_from_slice(&b)),
            Ok(false)
        );
        assert!(input.is_empty());
        assert_eq!(body, b"hel");
    }

    #[test]
    fn decodes_byte_by_byte() {
        let (body, done, rest) = decode_in_pieces(SAMPLE, &[1]).expect("decode");
        assert!(done);
        assert_eq!(body, SAMPLE_BODY);
        assert_eq!(rest, b"NEXT");
    }

    #[test]
    fn decodes_random_splits() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let sizes: Vec<usize> = (0..8).map(|_| (rng.next() % 9) as usize + 1).collect();
            let (body, done, rest) = decode_in_pieces(SAMPLE, &sizes).expect("decode");
            assert!(done, "{sizes:?}");
            assert_eq!(body, SAMPLE_BODY, "{sizes:?}");
            assert_eq!(rest, b"NEXT", "{sizes:?}");
        }
    }

    #[test]
    fn body_pieces_are_zero_copy() {
        let wire = Bytes::from_static(b"3\r\nabc\r\n0\r\n\r\n");
        let base = wire.as_ptr() as usize;
        let mut input = wire.clone();
        let mut pieces = Vec::new();
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.decode(&mut input, &mut |b: Bytes| pieces.push(b)),
            Ok(true)
        );
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].as_ptr() as usize, base + 3);
    }

    #[test]
    fn accepts_valid_forms() {
        assert_eq!(decoded(b"0\r\n\r\n"), b"");
        assert_eq!(decoded(b"000\r\n\r\n"), b"");
        assert_eq!(decoded(b"a\r\n0123456789\r\n0\r\n\r\n"), b"0123456789");
        assert_eq!(decoded(b"A\r\n0123456789\r\n0\r\n\r\n"), b"0123456789");
        assert_eq!(decoded(b"1 ; name\r\nx\r\n0;last\r\n\r\n"), b"x");
        assert_eq!(decoded(b"2\r\n\r\n\r\n0\r\n\r\n"), b"\r\n");
    }

    #[test]
    fn rejects_malformed() {
        assert!(malformed(b"\r\n"));
        assert!(malformed(b"g\r\n"));
        assert!(malformed(b"-1\r\n"));
        assert!(malformed(b"0x5\r\nhello\r\n0\r\n\r\n"));
        assert!(malformed(b"5\nhello\r\n0\r\n\r\n"), "bare LF after size");
        assert!(malformed(b"5\rxhello\r\n0\r\n\r\n"));
        assert!(
            malformed(b"5\r\nhelloX\r\n0\r\n\r\n"),
            "data longer than size"
        );
        assert!(malformed(b"5\r\nhello\rX0\r\n\r\n"));
        assert!(malformed(b"5\r\nhello\n0\r\n\r\n"));
        assert!(malformed(b"0\r\n\n"), "bare LF ending trailers");
        assert!(malformed(b"0\r\nx: 1\n\r\n"));
        assert!(malformed(b"1;a\x00b\r\nx\r\n0\r\n\r\n"));
        assert!(malformed(b"1 2\r\nx\r\n0\r\n\r\n"));
        assert!(malformed(b"1\t\x01\r\nx\r\n0\r\n\r\n"));
    }

    #[test]
    fn rejects_oversized_chunk() {
        assert_eq!(decode_all(b"4000000000000000\r\n").map(|r| r.1), Ok(false));
        assert!(malformed(b"4000000000000001\r\n"));
        assert!(malformed(b"FFFFFFFFFFFFFFFF\r\n"));
        assert!(malformed(b"10000000000000000\r\n"));
    }

    #[test]
    fn chunk_line_limit() {
        let mut ok = b"1;".to_vec();
        ok.resize(MAX_CHUNK_LINE - 2, b'x');
        ok.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert_eq!(decoded(&ok), b"z");

        let mut long = b"1;".to_vec();
        long.resize(MAX_CHUNK_LINE - 1, b'x');
        long.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
        assert!(malformed(&long));

        let zeros = vec![b'0'; MAX_CHUNK_LINE + 1];
        assert!(malformed(&zeros));
    }

    #[test]
    fn trailer_limit() {
        // The trailer section counts from after "0\r\n" up to and including the final CRLF.
        let build = |len: usize| {
            let mut v = b"0\r\nx: ".to_vec();
            v.resize(3 + len - 4, b'a');
            v.extend_from_slice(b"\r\n\r\n");
            v
        };
        assert_eq!(decoded(&build(MAX_TRAILER_BYTES)), b"");
        assert!(malformed(&build(MAX_TRAILER_BYTES + 1)));
    }

    #[test]
    fn done_decoder_leaves_input_alone() {
        let mut dec = ChunkedDecoder::new();
        let mut input = Bytes::from_static(b"0\r\n\r\n");
        assert_eq!(dec.decode(&mut input, &mut |_| {}), Ok(true));
        let mut more = Bytes::from_static(b"GET");
        assert_eq!(dec.decode(&mut more, &mut |_| panic!("no body")), Ok(true));
        assert_eq!(&more[..], b"GET");
    }

    #[test]
    fn encodes_chunk_sizes() {
        let mut out = BytesMut::new();
        encode_chunk_size(0, &mut out);
        encode_chunk_size(10, &mut out);
        encode_chunk_size(255, &mut out);
        encode_chunk_size(4096, &mut out);
        encode_chunk_size(usize::MAX, &mut out);
        let expected = format!("0\r\nA\r\nFF\r\n1000\r\n{:X}\r\n", usize::MAX);
        assert_eq!(&out[..], expected.as_bytes());
    }

    #[test]
    fn encoded_stream_round_trips() {
        let mut wire = BytesMut::new();
        for piece in [&b"abc"[..], &[7u8; 300][..], b"z"] {
            encode_chunk_size(piece.len(), &mut wire);
            wire.extend_from_slice(piece);
            wire.extend_from_slice(CHUNK_END);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let mut expected = b"abc".to_vec();
        expected.extend_from_slice(&[7u8; 300]);
        expected.push(b'z');
        assert_eq!(decoded(&wire), expected);
    }
}
