//! Message heads (RFC 9112 §3, §4, §5): the parsed types and the parsers built on httparse.

use std::fmt;
use std::mem::MaybeUninit;

use bytes::Bytes;

use super::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

/// The HTTP/1.x protocol versions we speak (RFC 9112 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The version as written on the wire, e.g. `"HTTP/1.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }

    /// Parses the exact wire form (`HTTP/1.0` or `HTTP/1.1`; the name is case-sensitive, RFC 9112 §2.3).
    pub fn from_bytes(b: &[u8]) -> Option<Version> {
        match b {
            b"HTTP/1.0" => Some(Version::Http10),
            b"HTTP/1.1" => Some(Version::Http11),
            _ => None,
        }
    }
}

/// Header list in arrival order. Names are lower-cased (copied only when the wire name had upper case),
/// values are zero-copy slices of the input with surrounding OWS trimmed.
///
/// Lookups compare names ASCII-case-insensitively, so entries added by callers with mixed-case
/// names are still found.
#[derive(Clone, Debug, Default)]
pub struct Headers(pub Vec<(Bytes, Bytes)>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The value of the first header named `lname`.
    pub fn get(&self, lname: &[u8]) -> Option<&Bytes> {
        self.0
            .iter()
            .find(|(n, _)| is_named(n, lname))
            .map(|(_, v)| v)
    }

    /// Values of all headers named `lname`, in arrival order.
    pub fn get_all<'a>(&'a self, lname: &'a [u8]) -> impl Iterator<Item = &'a Bytes> {
        self.0
            .iter()
            .filter(move |(n, _)| is_named(n, lname))
            .map(|(_, v)| v)
    }

    /// Whether a header named `lname` is present.
    pub fn contains(&self, lname: &[u8]) -> bool {
        self.get(lname).is_some()
    }

    /// Replaces all headers of that name by one, at the position of the first; appends if absent.
    pub fn set(&mut self, name: Bytes, value: Bytes) {
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut index = 0;
                self.0.retain(|(n, _)| {
                    let keep = index <= first || !n.eq_ignore_ascii_case(&name);
                    index += 1;
                    keep
                });
                self.0[first] = (name, value);
            }
            None => self.0.push((name, value)),
        }
    }

    /// Adds a header at the end, keeping any others of the same name.
    pub fn append(&mut self, name: Bytes, value: Bytes) {
        self.0.push((name, value));
    }

    /// Removes every header named `lname`.
    pub fn remove(&mut self, lname: &[u8]) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(lname));
    }

    /// Number of header fields (repeated names count separately).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no header fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    /// true if any comma-separated token of any `lname` header equals `token` ASCII-case-insensitively.
    pub fn has_token(&self, lname: &[u8], token: &[u8]) -> bool {
        self.get_all(lname)
            .any(|v| list_items(v).any(|t| t.eq_ignore_ascii_case(token)))
    }
}

/// Whether header name `name` is `lname` (lower case) in any case. Names parsed from the wire are
/// stored lower case, so an exact comparison (a `memcmp`) settles almost every lookup; folding
/// byte by byte is left for names a script set.
fn is_named(name: &[u8], lname: &[u8]) -> bool {
    name == lname || name.eq_ignore_ascii_case(lname)
}

/// Items of a comma-separated header list (RFC 9110 §5.6.1) with OWS trimmed; empty items skipped.
pub(super) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A parsed request line and header section.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// Request method, case-sensitive as received (RFC 9110 §9.1).
    pub method: Bytes,
    /// Request target as received.
    pub path: Bytes,
    /// Protocol version of the request line.
    pub version: Version,
    /// Header fields.
    pub headers: Headers,
}

/// A parsed status line and header section.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// Protocol version of the status line.
    pub version: Version,
    /// Three-digit status code.
    pub status: u16,
    /// Reason phrase as received (may be empty).
    pub reason: Bytes,
    /// Header fields.
    pub headers: Headers,
}

/// `GET / HTTP/1.1` without headers: what a script's head object leaves unsaid.
impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: Bytes::from_static(b"GET"),
            path: Bytes::from_static(b"/"),
            version: Version::Http11,
            headers: Headers::new(),
        }
    }
}

/// `HTTP/1.1 200` without headers (the reason phrase follows the status when encoded).
impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            version: Version::Http11,
            status: 200,
            reason: Bytes::new(),
            headers: Headers::new(),
        }
    }
}

/// Why a head or body framing was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Syntax error; the text says what was wrong.
    Malformed(&'static str),
    /// The head exceeded `MAX_HEAD_BYTES`.
    HeadTooLarge,
    /// The head had more than `MAX_HEADERS` fields.
    TooManyHeaders,
    /// RFC 9112 §6.1: Transfer-Encoding other than a final "chunked" in a request
    UnsupportedTransferEncoding,
}

impl ParseError {
    /// the HTTP status a server answers with: 400, 431, 431, 501
    pub fn status(self) -> u16 {
        match self {
            ParseError::Malformed(_) => 400,
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::UnsupportedTransferEncoding => 501,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(what) => write!(f, "malformed HTTP message: {what}"),
            ParseError::HeadTooLarge => {
                write!(f, "HTTP head larger than {MAX_HEAD_BYTES} bytes")
            }
            ParseError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} HTTP header fields"),
            ParseError::UnsupportedTransferEncoding => write!(f, "unsupported transfer-encoding"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Outcome of a head parse that did not fail.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole head and the bytes it took, including the final empty line.
    Complete(T, usize),
    /// The empty line ending the head has not arrived yet.
    Partial,
}

/// httparse's header array: one slot more than allowed so that exactly `MAX_HEADERS + 1`
/// fields are seen (and rejected) rather than hitting httparse's own error first. Left
/// uninitialised (httparse writes the slots it returns): zeroing 101 slots was 3 KiB of stores
/// per parsed head.
type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS + 1];

fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS + 1]
}

/// Only the first `MAX_HEAD_BYTES` are handed to httparse: a longer head is rejected anyway,
/// and this bounds the rescanning work when a caller re-parses a growing buffer.
fn head_window(buf: &Bytes) -> &[u8] {
    &buf[..buf.len().min(MAX_HEAD_BYTES)]
}

/// The length of a head httparse completed, `None` while it is unfinished.
fn complete_len(parsed: httparse::Result<usize>) -> Result<Option<usize>, ParseError> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(map_httparse_error(e)),
    }
}

/// Maps an unfinished parse to Partial or, once the limit is passed, HeadTooLarge.
fn partial<T>(buf: &Bytes) -> Result<Parsed<T>, ParseError> {
    if buf.len() > MAX_HEAD_BYTES {
        Err(ParseError::HeadTooLarge)
    } else {
        Ok(Parsed::Partial)
    }
}

fn map_httparse_error(e: httparse::Error) -> ParseError {
    match e {
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::HeaderName => ParseError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => ParseError::Malformed("invalid header value"),
        httparse::Error::NewLine => ParseError::Malformed("invalid line ending"),
        httparse::Error::Status => ParseError::Malformed("invalid status code"),
        httparse::Error::Token => ParseError::Malformed("invalid method or token"),
        httparse::Error::Version => ParseError::Malformed("unsupported HTTP version"),
    }
}

fn version_from_minor(minor: Option<u8>) -> Result<Version, ParseError> {
    match minor {
        Some(0) => Ok(Version::Http10),
        Some(1) => Ok(Version::Http11),
        _ => Err(ParseError::Malformed("unsupported HTTP version")),
    }
}

/// Converts httparse's borrowed headers into `Headers` sharing `buf`'s storage.
fn collect_headers(buf: &Bytes, parsed: &[httparse::Header<'_>]) -> Result<Headers, ParseError> {
    if parsed.len() > MAX_HEADERS {
        return Err(ParseError::TooManyHeaders);
    }
    let mut list = Vec::with_capacity(parsed.len());
    for h in parsed {
        let raw = h.name.as_bytes();
        let name = if !raw.iter().any(u8::is_ascii_uppercase) {
            buf.slice_ref(raw)
        } else if let Some(known) = well_known_name(raw) {
            known
        } else {
            Bytes::from(raw.to_ascii_lowercase())
        };
        list.push((name, slice_of(buf, trim_ows(h.value))));
    }
    Ok(Headers(list))
}

/// Lower-case spellings of the header names most messages carry. Peers usually write them in
/// Title-Case (`Content-Length`), and lower-casing each into a fresh buffer was a third of a
/// proxied request's allocations; names found here are shared static bytes instead. Sorted by
/// length, so that [`NAMES_BY_LENGTH`] can index them.
const WELL_KNOWN_NAMES: &[&str] = &[
    "age",
    "via",
    "date",
    "etag",
    "host",
    "vary",
    "range",
    "accept",
    "cookie",
    "expect",
    "origin",
    "pragma",
    "server",
    "expires",
    "referer",
    "upgrade",
    "location",
    "x-real-ip",
    "connection",
    "keep-alive",
    "set-cookie",
    "user-agent",
    "content-type",
    "x-request-id",
    "accept-ranges",
    "authorization",
    "cache-control",
    "content-range",
    "if-none-match",
    "last-modified",
    "content-length",
    "accept-encoding",
    "accept-language",
    "x-forwarded-for",
    "content-encoding",
    "if-modified-since",
    "transfer-encoding",
    "x-forwarded-proto",
];

/// The length of the longest of `WELL_KNOWN_NAMES`.
const MAX_WELL_KNOWN_LEN: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < WELL_KNOWN_NAMES.len() {
        if WELL_KNOWN_NAMES[i].len() > longest {
            longest = WELL_KNOWN_NAMES[i].len();
        }
        i += 1;
    }
    longest
};

/// For each length, the range of `WELL_KNOWN_NAMES` of that length (computed at compile time,
/// which also checks that the list is sorted by length).
const NAMES_BY_LENGTH: [(u8, u8); MAX_WELL_KNOWN_LEN + 1] = index_by_length(WELL_KNOWN_NAMES);

const fn index_by_length(names: &[&str]) -> [(u8, u8); MAX_WELL_KNOWN_LEN + 1] {
    assert!(
        names.len() <= u8::MAX as usize,
        "the ranges are stored as u8"
    );
    let mut ranges = [(0u8, 0u8); MAX_WELL_KNOWN_LEN + 1];
    let mut i = 0;
    while i < names.len() {
        let len = names[i].len();
        assert!(
            i == 0 || names[i - 1].len() <= len,
            "WELL_KNOWN_NAMES must be sorted by length"
        );
        if ranges[len].1 == 0 {
            ranges[len].0 = i as u8;
        }
        ranges[len].1 = i as u8 + 1;
        i += 1;
    }
    ranges
}

/// The static lower-case form of `raw` if it is one of `WELL_KNOWN_NAMES` in any case. Runs for
/// every Title-Case header of every message (a response from nginx has five), so only the
/// names of the same length are compared (one to four of them).
fn well_known_name(raw: &[u8]) -> Option<Bytes> {
    let &(from, to) = NAMES_BY_LENGTH.get(raw.len())?;
    WELL_KNOWN_NAMES[from as usize..to as usize]
        .iter()
        .find(|n| folds_to(raw, n.as_bytes()))
        .map(|n| Bytes::from_static(n.as_bytes()))
}

/// Whether token `raw` is `lower` (lower-case letters and `-` only) in any case, compared a
/// word at a time. Setting bit 5 of every byte folds letters to lower case and leaves `-` and
/// lower-case letters unchanged; of the bytes it maps onto a letter or `-`, only CR (onto `-`)
/// is not that letter in some case, and a token has no CR (RFC 9110 §5.6.2; httparse checks).
fn folds_to(raw: &[u8], lower: &[u8]) -> bool {
    let n = raw.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return raw.iter().zip(lower).all(|(&r, &l)| r | 0x20 == l);
    }
    // Whole words from the start, then the last eight bytes (overlapping the one before).
    let same =
        |at: usize| word(&raw[at..at + 8]) | 0x2020_2020_2020_2020 == word(&lower[at..at + 8]);
    (0..n - 8).step_by(8).all(same) && same(n - 8)
}

/// Eight bytes as one word, for scans a word at a time (`chunk` is a chunk of `chunks_exact(8)`
/// or an eight-byte slice; any other length reads as zero).
pub(super) fn word(chunk: &[u8]) -> u64 {
    <[u8; 8]>::try_from(chunk).map_or(0, u64::from_ne_bytes)
}

/// A zero-copy sub-slice of `buf`; empty slices need no reference (and may point anywhere).
fn slice_of(buf: &Bytes, part: &[u8]) -> Bytes {
    if part.is_empty() {
        Bytes::new()
    } else {
        buf.slice_ref(part)
    }
}

/// `buf` holds the accumulated unparsed input starting at the head; the returned head's fields are slices of it.
/// Partial while no CRLFCRLF yet; HeadTooLarge once buf.len() > MAX_HEAD_BYTES without completing (or head consumed > MAX);
/// TooManyHeaders over MAX_HEADERS; Malformed for anything httparse rejects or a version other than HTTP/1.0 / HTTP/1.1.
///
/// Empty lines before the request line are skipped (RFC 9112 §2.2) and count towards the consumed length.
pub fn parse_request_head(buf: &Bytes) -> Result<Parsed<RequestHead>, ParseError> {
    let mut slots = header_slots();
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        head_window(buf),
        &mut slots,
    );
    let Some(consumed) = complete_len(parsed)? else {
        return partial(buf);
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Err(ParseError::Malformed("incomplete request line"));
    };
    let head = RequestHead {
        method: slice_of(buf, method.as_bytes()),
        path: slice_of(buf, path.as_bytes()),
        version: version_from_minor(req.version)?,
        headers: collect_headers(buf, req.headers)?,
    };
    Ok(Parsed::Complete(head, consumed))
}

/// Like [`parse_request_head`], for a status line and header section. Obsolete line folding is
/// rejected here too (RFC 9112 §5.2 allows replacing it, but rejecting is simpler and safe).
pub fn parse_response_head(buf: &Bytes) -> Result<Parsed<ResponseHead>, ParseError> {
    let mut slots = header_slots();
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        head_window(buf),
        &mut slots,
    );
    let Some(consumed) = complete_len(parsed)? else {
        return partial(buf);
    };
    let Some(status) = res.code else {
        return Err(ParseError::Malformed("incomplete status line"));
    };
    // The first digit is the class (RFC 9110 §15); below 100 there is none, so neither the
    // framing rules nor a client can tell what the answer means. 600-999 are invalid too,
    // but a client takes them as 5xx (§15), so they pass, as through nginx.
    if status < 100 {
        return Err(ParseError::Malformed("invalid status code"));
    }
    let head = ResponseHead {
        version: version_from_minor(res.version)?,
        status,
        reason: slice_of(buf, res.reason.unwrap_or("").as_bytes()),
        headers: collect_headers(buf, res.headers)?,
    };
    Ok(Parsed::Complete(head, consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &[u8]) -> Result<Parsed<RequestHead>, ParseError> {
        parse_request_head(&Bytes::copy_from_slice(s))
    }

    fn complete_req(s: &[u8]) -> (RequestHead, usize) {
        match req(s) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("expected complete request, got {other:?}"),
        }
    }

    fn res(s: &[u8]) -> Result<Parsed<ResponseHead>, ParseError> {
        parse_response_head(&Bytes::copy_from_slice(s))
    }

    fn complete_res(s: &[u8]) -> (ResponseHead, usize) {
        match res(s) {
            Ok(Parsed::Complete(h, n)) => (h, n),
            other => panic!("expected complete response, got {other:?}"),
        }
    }

    fn is_partial<T>(r: &Result<Parsed<T>, ParseError>) -> bool {
        matches!(r, Ok(Parsed::Partial))
    }

    /// A request head padded with one header so that its total length is exactly `len`.
    fn request_of_len(len: usize) -> Vec<u8> {
        let start = b"GET / HTTP/1.1\r\nx: ";
        let end = b"\r\n\r\n";
        let mut v = start.to_vec();
        v.resize(len - end.len(), b'a');
        v.extend_from_slice(end);
        assert_eq!(v.len(), len);
        v
    }

    fn request_with_headers(n: usize) -> Vec<u8> {
        let mut v = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            v.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    }

    #[test]
    fn header_names_are_lower_cased_whether_well_known_or_not() {
        let (h, _) = complete_req(
            b"GET / HTTP/1.1\r\nHOST: a\r\nContent-Length: 0\r\nX-Custom-Thing: b\r\nvia: c\r\n\r\n",
        );
        let names: Vec<&[u8]> = h.headers.0.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(
            names,
            [&b"host"[..], b"content-length", b"x-custom-thing", b"via"]
        );
        assert_eq!(
            h.headers.get(b"content-length").map(|v| &v[..]),
            Some(&b"0"[..])
        );
        // Well-known names are the table's static bytes, not a lower-cased copy.
        let table = |name: &[u8]| well_known_name(name).map(|n| n.as_ptr());
        assert_eq!(Some(h.headers.0[0].0.as_ptr()), table(b"host"));
        assert_eq!(Some(h.headers.0[1].0.as_ptr()), table(b"content-length"));
        // A name that only shares a well-known name's length is not mistaken for it.
        let (h, _) = complete_req(b"GET / HTTP/1.1\r\nHosT: a\r\nHoss: b\r\n\r\n");
        assert_eq!(h.headers.0[0].0, &b"host"[..]);
        assert_eq!(h.headers.0[1].0, &b"hoss"[..]);
    }

    #[test]
    fn well_known_names_are_stored_lower_case() {
        assert_eq!(well_known_name(b"Content-Lengths"), None);
        assert_eq!(well_known_name(b"X-Forwarded-Protocol-Version"), None);
        assert_eq!(well_known_name(b""), None);
        // Same length as a well-known name, one byte apart.
        assert_eq!(well_known_name(b"Content-Lengtg"), None);
        assert_eq!(well_known_name(b"Xate"), None);
        for n in WELL_KNOWN_NAMES {
            assert_eq!(well_known_name(format!("{n}x").as_bytes()).as_deref(), None);
            assert_eq!(n.to_ascii_lowercase(), *n);
            assert_eq!(
                well_known_name(n.to_ascii_uppercase().as_bytes()).as_deref(),
                Some(n.as_bytes())
            );
        }
    }

    /// Every byte of every well-known name is compared, whichever word it falls in: changing
    /// any one of them to another token byte, or to the next byte value, is a miss.
    #[test]
    fn a_well_known_name_differing_in_any_one_byte_is_not_it() {
        for n in WELL_KNOWN_NAMES {
            let title: Vec<u8> = n
                .split('-')
                .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
                .collect::<Vec<_>>()
                .join("-")
                .into_bytes();
            assert_eq!(well_known_name(&title).as_deref(), Some(n.as_bytes()));
            for at in 0..n.len() {
                for other in [b'_', b'^', b'~', b'0', b'.', b'!'] {
                    let mut changed = title.clone();
                    changed[at] = other;
                    assert_eq!(well_known_name(&changed), None, "{n} at {at}: {other}");
                }
                let mut shifted = title.clone();
                shifted[at] = if shifted[at] == b'-' {
                    b'.'
                } else {
                    shifted[at] + 1
                };
                assert_eq!(well_known_name(&shifted), None, "{n} at {at}");
            }
        }
    }

    #[test]
    fn version_strings() {
        assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
        assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
        assert_eq!(Version::from_bytes(b"HTTP/1.1"), Some(Version::Http11));
        assert_eq!(Version::from_bytes(b"HTTP/1.0"), Some(Version::Http10));
        assert_eq!(Version::from_bytes(b"http/1.1"), None);
        assert_eq!(Version::from_bytes(b"HTTP/2.0"), None);
    }

    #[test]
    fn simple_request() {
        let input = b"GET /hi?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  a b \t\r\n\r\n";
        let (h, n) = complete_req(input);
        assert_eq!(n, input.len());
        assert_eq!(&h.method[..], b"GET");
        assert_eq!(&h.path[..], b"/hi?x=1");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(
            h.headers.get(b"host").map(|v| &v[..]),
            Some(&b"example.com"[..])
        );
        assert_eq!(h.headers.get(b"x-thing").map(|v| &v[..]), Some(&b"a b"[..]));
        let names: Vec<&[u8]> = h.headers.iter().map(|(n, _)| &n[..]).collect();
        assert_eq!(names, vec![&b"host"[..], &b"x-thing"[..]]);
    }

    #[test]
    fn fields_are_slices_of_input() {
        let buf = Bytes::from_static(b"POST /p HTTP/1.0\r\nlower: v\r\nUpper: w\r\n\r\n");
        let Ok(Parsed::Complete(h, _)) = parse_request_head(&buf) else {
            panic!("not complete")
        };
        let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
        let inside = |b: &Bytes| range.contains(&(b.as_ptr() as usize));
        assert!(inside(&h.method));
        assert!(inside(&h.path));
        assert!(inside(&h.headers.0[0].0), "lower-case name is not copied");
        assert!(inside(&h.headers.0[0].1));
        assert!(!inside(&h.headers.0[1].0), "upper-case name is copied");
        assert_eq!(&h.headers.0[1].0[..], b"upper");
        assert!(inside(&h.headers.0[1].1));
        assert_eq!(h.version, Version::Http10);
    }

    #[test]
    fn header_name_bytes_kept_except_case() {
        let (h, _) = complete_req(b"GET / HTTP/1.1\r\nX-My_Weird.Name~!: 1\r\n\r\n");
        assert_eq!(&h.headers.0[0].0[..], b"x-my_weird.name~!");
    }

    #[test]
    fn empty_header_value() {
        let (h, _) = complete_req(b"GET / HTTP/1.1\r\nx-empty:\r\ny:   \r\n\r\n");
        assert_eq!(h.headers.get(b"x-empty").map(|v| v.len()), Some(0));
        assert_eq!(h.headers.get(b"y").map(|v| v.len()), Some(0));
    }

    #[test]
    fn partial_until_blank_line() {
        let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..full.len() {
            assert!(is_partial(&req(&full[..cut])), "cut at {cut}");
        }
        assert!(matches!(req(full), Ok(Parsed::Complete(_, n)) if n == full.len()));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let input = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let (h, n) = complete_req(input);
        assert_eq!(&h.method[..], b"GET");
        assert_eq!(n, input.len());
        assert!(is_partial(&req(b"\r\n")));
    }

    #[test]
    fn pipelined_requests() {
        let first = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let second = b"GET /b HTTP/1.1\r\nHost: y\r\n\r\n";
        let mut all = first.to_vec();
        all.extend_from_slice(second);
        let mut buf = Bytes::from(all);
        let Ok(Parsed::Complete(h, n)) = parse_request_head(&buf) else {
            panic!("first")
        };
        assert_eq!(&h.path[..], b"/a");
        assert_eq!(n, first.len());
        let _ = buf.split_to(n);
        let Ok(Parsed::Complete(h, n)) = parse_request_head(&buf) else {
            panic!("second")
        };
        assert_eq!(&h.path[..], b"/b");
        assert_eq!(n, second.len());
    }

    #[test]
    fn body_after_head_is_not_consumed() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let (_, n) = complete_req(input);
        assert_eq!(n, input.len() - 5);
    }

    #[test]
    fn head_size_limit_boundary() {
        let exact = request_of_len(MAX_HEAD_BYTES);
        assert!(matches!(req(&exact), Ok(Parsed::Complete(_, n)) if n == MAX_HEAD_BYTES));
        let over = request_of_len(MAX_HEAD_BYTES + 1);
        assert_eq!(req(&over).err(), Some(ParseError::HeadTooLarge));
    }

    #[test]
    fn head_size_limit_while_partial() {
        let mut v = b"GET / HTTP/1.1\r\nx: ".to_vec();
        v.resize(MAX_HEAD_BYTES, b'a');
        assert!(is_partial(&req(&v)));
        v.push(b'a');
        assert_eq!(req(&v).err(), Some(ParseError::HeadTooLarge));
    }

    #[test]
    fn big_body_after_small_head_is_fine() {
        let mut v = b"POST / HTTP/1.1\r\n\r\n".to_vec();
        v.resize(MAX_HEAD_BYTES * 3, b'z');
        assert!(matches!(req(&v), Ok(Parsed::Complete(_, 19))));
    }

    #[test]
    fn header_count_boundary() {
        let (h, _) = complete_req(&request_with_headers(MAX_HEADERS));
        assert_eq!(h.headers.len(), MAX_HEADERS);
        assert_eq!(
            req(&request_with_headers(MAX_HEADERS + 1)).err(),
            Some(ParseError::TooManyHeaders)
        );
        assert_eq!(
            req(&request_with_headers(MAX_HEADERS + 2)).err(),
            Some(ParseError::TooManyHeaders)
        );
        let mut resp = b"HTTP/1.1 200 OK".to_vec();
        resp.extend_from_slice(&request_with_headers(MAX_HEADERS + 1)[14..]);
        assert_eq!(res(&resp).err(), Some(ParseError::TooManyHeaders));
    }

    #[test]
    fn malformed_requests() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / http/1.1\r\n\r\n",
            b"GET /\r\n\r\n",
            b"G\x01T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nname : v\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
            b"GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            b"GET / HTTP/1.1\rX\n\r\n",
        ];
        for case in cases {
            assert!(
                matches!(req(case), Err(ParseError::Malformed(_))),
                "{:?} -> {:?}",
                String::from_utf8_lossy(case),
                req(case)
            );
        }
    }

    #[test]
    fn simple_response() {
        let input = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let (h, n) = complete_res(input);
        assert_eq!(n, input.len());
        assert_eq!(h.status, 404);
        assert_eq!(&h.reason[..], b"Not Found");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(
            h.headers.get(b"content-length").map(|v| &v[..]),
            Some(&b"0"[..])
        );
    }

    #[test]
    fn response_without_reason() {
        let (h, _) = complete_res(b"HTTP/1.0 204\r\n\r\n");
        assert_eq!(h.status, 204);
        assert!(h.reason.is_empty());
        assert_eq!(h.version, Version::Http10);
    }

    #[test]
    fn malformed_responses() {
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 000 OK\r\n\r\n",
            b"HTTP/1.1 099 OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nx: a\r\n\tfolded\r\n\r\n",
        ];
        for case in cases {
            assert!(
                matches!(res(case), Err(ParseError::Malformed(_))),
                "{:?} -> {:?}",
                String::from_utf8_lossy(case),
                res(case)
            );
        }
    }

    #[test]
    fn status_codes_without_a_standard_class_pass() {
        for (line, status) in [
            (&b"HTTP/1.1 100 Continue\r\n\r\n"[..], 100),
            (b"HTTP/1.1 999 X\r\n\r\n", 999),
        ] {
            assert_eq!(complete_res(line).0.status, status);
        }
    }

    #[test]
    fn response_size_limit() {
        let mut v = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        v.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(res(&v).err(), Some(ParseError::HeadTooLarge));
    }

    #[test]
    fn error_statuses_and_display() {
        assert_eq!(ParseError::Malformed("x").status(), 400);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
        assert_eq!(ParseError::UnsupportedTransferEncoding.status(), 501);
        assert_eq!(
            ParseError::Malformed("x").to_string(),
            "malformed HTTP message: x"
        );
    }

    #[test]
    fn headers_operations() {
        let mut h = Headers::new();
        assert!(h.is_empty());
        h.append(Bytes::from_static(b"a"), Bytes::from_static(b"1"));
        h.append(Bytes::from_static(b"b"), Bytes::from_static(b"2"));
        h.append(Bytes::from_static(b"A"), Bytes::from_static(b"3"));
        h.append(Bytes::from_static(b"c"), Bytes::from_static(b"4"));
        assert_eq!(
            h.get_all(b"a").map(|v| &v[..]).collect::<Vec<_>>(),
            vec![b"1", b"3"]
        );
        assert!(h.contains(b"c"));
        assert!(!h.contains(b"d"));

        h.set(Bytes::from_static(b"a"), Bytes::from_static(b"9"));
        let all: Vec<(&[u8], &[u8])> = h.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        assert_eq!(
            all,
            vec![(&b"a"[..], &b"9"[..]), (b"b", b"2"), (b"c", b"4")]
        );

        h.set(Bytes::from_static(b"d"), Bytes::from_static(b"5"));
        assert_eq!(h.len(), 4);
        assert_eq!(h.0[3].0, Bytes::from_static(b"d"));

        h.remove(b"B");
        assert_eq!(h.len(), 3);
        assert!(!h.contains(b"b"));
    }

    #[test]
    fn header_tokens() {
        let mut h = Headers::new();
        h.append(
            Bytes::from_static(b"connection"),
            Bytes::from_static(b"Upgrade , keep-alive"),
        );
        h.append(
            Bytes::from_static(b"connection"),
            Bytes::from_static(b"\tClose"),
        );
        assert!(h.has_token(b"connection", b"close"));
        assert!(h.has_token(b"connection", b"KEEP-ALIVE"));
        assert!(h.has_token(b"connection", b"upgrade"));
        assert!(!h.has_token(b"connection", b"keep"));
        assert!(!h.has_token(b"upgrade", b"close"));
    }

    #[test]
    fn trims_ows() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(
            list_items(b" a, ,b ,").collect::<Vec<_>>(),
            vec![b"a", b"b"]
        );
    }
}
