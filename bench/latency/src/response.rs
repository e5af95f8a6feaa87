//! Reads one HTTP/1.1 response off a blocking stream.

use std::io::{Error, ErrorKind, Read, Result};

/// Upper bound on a response head (RFC 9112 sets none; servers commonly allow 8–16 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// How the end of a response body is found (RFC 9112 §6.3).
#[derive(Debug, PartialEq)]
enum BodyLength {
    /// `Content-Length: n`.
    Fixed(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body runs to the end of the connection.
    UntilClose,
}

/// What the head says about the body and the connection.
#[derive(Debug, PartialEq)]
struct Head {
    length: BodyLength,
    keep_alive: bool,
}

/// Reads a whole response (head and body) and fails on a non-2xx status. Returns whether the
/// connection can carry another request. `buffer` is scratch space, at least 1 KiB.
pub fn read_response(mut stream: impl Read, buffer: &mut [u8]) -> Result<bool> {
    let mut filled = 0;
    let head_end = loop {
        if let Some(end) = find(&buffer[..filled], b"\r\n\r\n") {
            break end + 4;
        }
        if filled == buffer.len().min(MAX_HEAD) {
            return Err(invalid("response head too large"));
        }
        let count = stream.read(&mut buffer[filled..])?;
        if count == 0 {
            return Err(Error::from(ErrorKind::UnexpectedEof));
        }
        filled += count;
    };
    let head = parse_head(&buffer[..head_end])?;
    let already = filled - head_end;
    match head.length {
        BodyLength::Fixed(length) => {
            let mut remaining = length
                .checked_sub(already)
                .ok_or_else(|| invalid("more bytes than the response"))?;
            while remaining > 0 {
                let limit = remaining.min(buffer.len());
                let count = stream.read(&mut buffer[..limit])?;
                if count == 0 {
                    return Err(Error::from(ErrorKind::UnexpectedEof));
                }
                remaining -= count;
            }
            Ok(head.keep_alive)
        }
        BodyLength::Chunked => {
            buffer.copy_within(head_end..filled, 0);
            read_chunked(stream, buffer, already)?;
            Ok(head.keep_alive)
        }
        BodyLength::UntilClose => {
            while stream.read(buffer)? > 0 {}
            Ok(false)
        }
    }
}

fn parse_head(head: &[u8]) -> Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let protocol = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    if !(200..300).contains(&status) {
        return Err(invalid("non-2xx status"));
    }
    let mut head = Head {
        length: BodyLength::UntilClose,
        keep_alive: protocol == "HTTP/1.1",
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") && head.length != BodyLength::Chunked {
            let length = value.parse().map_err(|_| invalid("bad content-length"))?;
            head.length = BodyLength::Fixed(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().ends_with("chunked")
        {
            head.length = BodyLength::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                head.keep_alive = false;
            } else if value.contains("keep-alive") {
                head.keep_alive = true;
            }
        }
    }
    Ok(head)
}

/// Consumes a chunked body; `buffer[..filled]` holds bytes already read past the head.
fn read_chunked(mut stream: impl Read, buffer: &mut [u8], mut filled: usize) -> Result<()> {
    let mut start = 0;
    loop {
        // Chunk-size line.
        let line_end = loop {
            if let Some(end) = find(&buffer[start..filled], b"\r\n") {
                break start + end;
            }
            compact(buffer, &mut start, &mut filled);
            if filled == buffer.len() {
                return Err(invalid("chunk size line too long"));
            }
            let count = stream.read(&mut buffer[filled..])?;
            if count == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
            filled += count;
        };
        let size_text =
            std::str::from_utf8(&buffer[start..line_end]).map_err(|_| invalid("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        start = line_end + 2;
        if size == 0 {
            // The last chunk: skip trailers up to the empty line.
            loop {
                if let Some(end) = find(&buffer[start..filled], b"\r\n") {
                    if end == 0 {
                        return Ok(());
                    }
                    start += end + 2;
                    continue;
                }
                compact(buffer, &mut start, &mut filled);
                let count = stream.read(&mut buffer[filled..])?;
                if count == 0 {
                    return Err(Error::from(ErrorKind::UnexpectedEof));
                }
                filled += count;
            }
        }
        // Chunk data plus its CRLF.
        let mut remaining = size + 2;
        let buffered = (filled - start).min(remaining);
        start += buffered;
        remaining -= buffered;
        while remaining > 0 {
            let limit = remaining.min(buffer.len());
            let count = stream.read(&mut buffer[..limit])?;
            if count == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
            remaining -= count;
            start = 0;
            filled = 0;
        }
    }
}

/// Moves the unread bytes to the front of the buffer.
fn compact(buffer: &mut [u8], start: &mut usize, filled: &mut usize) {
    buffer.copy_within(*start..*filled, 0);
    *filled -= *start;
    *start = 0;
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out the bytes a few at a time, like a socket under load.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> Result<usize> {
            let count = self.step.min(self.bytes.len()).min(out.len());
            out[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    fn read(bytes: &[u8], step: usize) -> Result<bool> {
        let mut buffer = vec![0u8; 1024];
        read_response(Trickle { bytes, step }, &mut buffer)
    }

    #[test]
    fn content_length_response() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nHi, there!\n";
        for step in [1, 3, response.len()] {
            assert!(read(response, step).expect("complete response"));
        }
    }

    #[test]
    fn chunked_response_with_trailer() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nHello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in [1, 7, response.len()] {
            assert!(read(response, step).expect("complete response"));
        }
    }

    #[test]
    fn body_larger_than_buffer() {
        let mut response = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".to_vec();
        response.resize(response.len() + 5000, b'x');
        assert!(read(&response, 700).expect("complete response"));
    }

    #[test]
    fn connection_close_and_http10() {
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!read(close, 100).expect("complete response"));
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!read(old, 100).expect("complete response"));
    }

    #[test]
    fn errors_are_reported() {
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert!(read(not_found, 100).is_err());
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(read(short, 100).is_err());
    }
}
