//! Resource limits for parsing untrusted HTTP/1.x input.
//!
//! RFC 9112 §2.3 and RFC 9110 §5.4 leave these limits to the implementation; a server
//! answers 431 when a head exceeds them (RFC 6585 §5).

/// Longest accepted message head: start line, header fields and the terminating empty line.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header fields accepted in one head.
pub const MAX_HEADERS: usize = 100;

/// Longest accepted chunk-size line including extensions and CRLF (RFC 9112 §7.1).
pub const MAX_CHUNK_LINE: usize = 4096;

/// Largest accepted trailer section after the last chunk, including the final CRLF (RFC 9112 §7.1.2).
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
