//! Head encoders (RFC 9112 §3, §4) writing Pipy's wire format into a `BytesMut`.
//!
//! Headers come from an iterator so both native and script-made heads can feed them. The
//! framing and persistence headers are always our own: the caller's `connection`, `keep-alive`,
//! `transfer-encoding` and `content-length` are replaced, as Pipy does.

use bytes::BytesMut;
use log::warn;

use super::head::{Version, list_items, word};
use super::status::reason_phrase;

/// How the body that follows the head is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFraming {
    /// content-length: n
    Length(u64),
    /// `transfer-encoding: chunked`; the body follows as chunks ending with `LAST_CHUNK`.
    Chunked,
    /// no body and no length header (1xx/204, or a bodiless response that keeps a given content-length)
    None,
}

/// `HTTP/1.1 100 Continue\r\n\r\n`
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Which of the caller's headers are replaced by our own.
enum Skip {
    /// Framing/persistence header: always dropped.
    Always,
    /// `content-length`: kept only for bodiless responses (HEAD, 304).
    ContentLength,
    Keep,
}

fn classify(name: &[u8]) -> Skip {
    if name.eq_ignore_ascii_case(b"content-length") {
        Skip::ContentLength
    } else if name.eq_ignore_ascii_case(b"connection")
        || name.eq_ignore_ascii_case(b"keep-alive")
        || name.eq_ignore_ascii_case(b"transfer-encoding")
    {
        Skip::Always
    } else {
        Skip::Keep
    }
}

/// tchar of RFC 9110 §5.6.2. Every header name of every encoded head is checked byte by byte,
/// so this is a table lookup rather than a search of the punctuation list.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let punctuation = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
};

/// A field that would break the message framing (response splitting) is dropped instead of sent.
fn is_safe_field(name: &[u8], value: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| is_tchar(b)) && !has_cr_lf_or_nul(value)
}

/// Whether `v` holds a CR, LF or NUL byte, looked for eight bytes at a time: every field of
/// every message passes here, and values (dates, user agents, cookies) run to dozens of bytes.
fn has_cr_lf_or_nul(v: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Exact for "some byte of x is zero" (the borrow it can carry only follows a zero byte).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut words = v.chunks_exact(8);
    for w in &mut words {
        let w = word(w);
        if has_zero(w)
            || has_zero(w ^ (ONES * u64::from(b'\r')))
            || has_zero(w ^ (ONES * u64::from(b'\n')))
        {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// Writes the caller's headers minus the replaced ones; returns whether an `upgrade: websocket|h2c`
/// header was among them (Pipy then sends `connection: upgrade` instead of keep-alive/close).
fn write_fields<'a>(
    out: &mut BytesMut,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    keep_content_length: bool,
) -> bool {
    let mut upgrading = false;
    for (name, value) in headers {
        match classify(name) {
            Skip::Always => continue,
            Skip::ContentLength if !keep_content_length => continue,
            Skip::ContentLength | Skip::Keep => {}
        }
        if !is_safe_field(name, value) {
            warn!(
                "dropping HTTP header {:?} with characters not allowed on the wire",
                String::from_utf8_lossy(name)
            );
            continue;
        }
        if name.eq_ignore_ascii_case(b"upgrade")
            && list_items(value)
                .any(|t| t.eq_ignore_ascii_case(b"websocket") || t.eq_ignore_ascii_case(b"h2c"))
        {
            upgrading = true;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    upgrading
}

/// Appends `n` in decimal without allocating.
fn write_decimal(out: &mut BytesMut, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[start..]);
}

fn write_framing(out: &mut BytesMut, framing: OutFraming) {
    match framing {
        OutFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            write_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        OutFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        OutFraming::None => {}
    }
}

fn write_connection(out: &mut BytesMut, upgrading: bool, keep_alive: bool) {
    out.extend_from_slice(match (upgrading, keep_alive) {
        (true, _) => b"connection: upgrade\r\n\r\n".as_slice(),
        (false, true) => b"connection: keep-alive\r\n\r\n",
        (false, false) => b"connection: close\r\n\r\n",
    });
}

/// Writes `<version> <status> <reason>\r\n`, then every header from `headers` as `name: value\r\n` in order, EXCEPT
/// connection, keep-alive, transfer-encoding, content-length, which are dropped (compare case-insensitively) — but when
/// framing is None and status is not 1xx/204, a given content-length is kept (HEAD responses). Then per framing:
/// `content-length: n` / `transfer-encoding: chunked`; then `connection: keep-alive` or `connection: close`
/// (`keep_alive`), then `\r\n`. Status 1xx/204 get no length header at all; 304 with Length(0) writes `content-length: 0`
/// (as Pipy does). Lower-case header names written by us, exactly as in:
/// `HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: keep-alive\r\n\r\n`.
///
/// As in Pipy: an empty `reason` becomes the registry phrase (or "OK"); an `upgrade: websocket|h2c`
/// header makes the last line `connection: upgrade`. Headers whose name is not a token or whose value
/// holds CR, LF or NUL are dropped with a warning, so a script cannot split the response.
pub fn write_response_head<'a>(
    out: &mut BytesMut,
    version: Version,
    status: u16,
    reason: &[u8],
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    framing: OutFraming,
    keep_alive: bool,
) {
    let no_length = (100..200).contains(&status) || status == 204;
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(b" ");
    write_decimal(out, u64::from(status));
    out.extend_from_slice(b" ");
    if reason.is_empty() || reason.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        out.extend_from_slice(reason_phrase(status).unwrap_or("OK").as_bytes());
    } else {
        out.extend_from_slice(reason);
    }
    out.extend_from_slice(b"\r\n");
    let upgrading = write_fields(out, headers, framing == OutFraming::None && !no_length);
    if !no_length {
        write_framing(out, framing);
    }
    write_connection(out, upgrading, keep_alive);
}

/// `<method> <path> <version>\r\n`, headers with the same skip list, then framing header (`content-length: 0` for a
/// bodiless GET too, i.e. Length(0)), then `connection: keep-alive`/`close`, then `\r\n`. E.g.
/// `GET /hi HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n`.
///
/// An empty method or path becomes `GET` or `/` (Pipy's defaults); bytes that cannot appear in a
/// request line are dropped from the method and percent-encoded in the path.
pub fn write_request_head<'a>(
    out: &mut BytesMut,
    method: &[u8],
    path: &[u8],
    version: Version,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    framing: OutFraming,
    keep_alive: bool,
) {
    write_method(out, method);
    out.extend_from_slice(b" ");
    write_target(out, path);
    out.extend_from_slice(b" ");
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    let upgrading = write_fields(out, headers, false);
    write_framing(out, framing);
    write_connection(out, upgrading, keep_alive);
}

fn write_method(out: &mut BytesMut, method: &[u8]) {
    if method.iter().all(|&b| is_tchar(b)) && !method.is_empty() {
        out.extend_from_slice(method);
    } else if method.iter().any(|&b| is_tchar(b)) {
        warn!(
            "dropping invalid characters from HTTP method {:?}",
            String::from_utf8_lossy(method)
        );
        out.extend(method.iter().copied().filter(|&b| is_tchar(b)));
    } else {
        out.extend_from_slice(b"GET");
    }
}

/// Bytes a request-target may hold as they are (visible ASCII; RFC 9112 §3.2 forbids whitespace).
fn is_target_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

fn write_target(out: &mut BytesMut, path: &[u8]) {
    if path.is_empty() {
        out.extend_from_slice(b"/");
    } else if path.iter().all(|&b| is_target_byte(b)) {
        out.extend_from_slice(path);
    } else {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in path {
            if is_target_byte(b) {
                out.extend_from_slice(&[b]);
            } else {
                out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
            }
        }
    }
}

/// Writes a complete minimal error response with `content-length: 0` and `connection: close`, e.g. for 400/431/501.
pub fn write_error_response(out: &mut BytesMut, status: u16) {
    write_response_head(
        out,
        Version::Http11,
        status,
        b"",
        std::iter::empty(),
        OutFraming::Length(0),
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_table_is_rfc_9110_token_characters() {
        for b in 0..=255u8 {
            let rfc = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), rfc, "byte {b}");
        }
    }

    fn pairs<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        list.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
    }

    fn response(
        status: u16,
        reason: &str,
        list: &[(&str, &str)],
        framing: OutFraming,
        keep_alive: bool,
    ) -> String {
        let mut out = BytesMut::new();
        write_response_head(
            &mut out,
            Version::Http11,
            status,
            reason.as_bytes(),
            pairs(list),
            framing,
            keep_alive,
        );
        String::from_utf8(out.to_vec()).expect("ascii")
    }

    fn request(method: &str, path: &str, list: &[(&str, &str)], framing: OutFraming) -> String {
        let mut out = BytesMut::new();
        write_request_head(
            &mut out,
            method.as_bytes(),
            path.as_bytes(),
            Version::Http11,
            pairs(list),
            framing,
            true,
        );
        String::from_utf8(out.to_vec()).expect("ascii")
    }

    #[test]
    fn plain_response() {
        assert_eq!(
            response(200, "OK", &[], OutFraming::Length(11), true),
            "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            response(404, "", &[], OutFraming::Length(8), false),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 8\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            response(299, "", &[], OutFraming::Length(0), true),
            "HTTP/1.1 299 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn http10_status_line() {
        let mut out = BytesMut::new();
        write_response_head(
            &mut out,
            Version::Http10,
            500,
            b"Oops",
            std::iter::empty(),
            OutFraming::Length(0),
            true,
        );
        assert_eq!(
            &out[..],
            b"HTTP/1.0 500 Oops\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn headers_in_order_with_skip_list() {
        let list = [
            ("Content-Type", "text/plain"),
            ("Connection", "close"),
            ("keep-alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("CONTENT-LENGTH", "99"),
            ("x-b", "2"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ];
        assert_eq!(
            response(201, "Created", &list, OutFraming::Chunked, true),
            "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nx-b: 2\r\nset-cookie: a=1\r\n\
             set-cookie: b=2\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn bodiless_response_keeps_content_length() {
        let list = [("content-length", "1234"), ("etag", "x")];
        assert_eq!(
            response(200, "OK", &list, OutFraming::None, true),
            "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\netag: x\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            response(200, "OK", &list, OutFraming::Length(4), true),
            "HTTP/1.1 200 OK\r\netag: x\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn no_length_for_1xx_and_204() {
        let list = [("content-length", "5")];
        assert_eq!(
            response(204, "", &list, OutFraming::Length(5), true),
            "HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            response(204, "", &list, OutFraming::None, true),
            "HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            response(103, "", &[("link", "</a>")], OutFraming::Chunked, true),
            "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn not_modified_gets_zero_length() {
        assert_eq!(
            response(304, "", &[], OutFraming::Length(0), true),
            "HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn upgrade_replaces_connection_line() {
        let list = [("upgrade", "WebSocket"), ("connection", "Upgrade")];
        assert_eq!(
            response(101, "", &list, OutFraming::None, true),
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n\r\n"
        );
        assert_eq!(
            request("GET", "/ws", &list, OutFraming::Length(0)),
            "GET /ws HTTP/1.1\r\nupgrade: WebSocket\r\ncontent-length: 0\r\nconnection: upgrade\r\n\r\n"
        );
        assert!(
            request("GET", "/", &[("upgrade", "foo")], OutFraming::None)
                .ends_with("connection: keep-alive\r\n\r\n")
        );
    }

    #[test]
    fn unsafe_fields_are_dropped() {
        let list = [
            ("x-ok", "1"),
            ("x-bad", "a\r\nInjected: yes"),
            ("bad name", "v"),
            ("", "v"),
            ("x-nul", "a\0b"),
        ];
        assert_eq!(
            response(200, "OK\r\nX: y", &list, OutFraming::Length(0), true),
            "HTTP/1.1 200 OK\r\nx-ok: 1\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    /// The word-at-a-time search finds CR, LF and NUL at every position of values up to three
    /// words long, and nothing in values made of every other byte.
    #[test]
    fn a_line_break_or_nul_is_found_wherever_it_is() {
        let others: Vec<u8> = (1..=255u8).filter(|b| !b"\r\n".contains(b)).collect();
        for len in 0..=24 {
            let clean: Vec<u8> = others
                .iter()
                .cycle()
                .skip(len * 7)
                .take(len)
                .copied()
                .collect();
            assert!(!has_cr_lf_or_nul(&clean), "{clean:?}");
            for at in 0..len {
                for bad in [b'\r', b'\n', 0] {
                    let mut v = clean.clone();
                    v[at] = bad;
                    assert!(has_cr_lf_or_nul(&v), "{bad} at {at} of {len}");
                }
            }
        }
        for w in others.chunks(8) {
            assert!(!has_cr_lf_or_nul(w), "{w:?}");
        }
    }

    #[test]
    fn plain_request() {
        assert_eq!(
            request("GET", "/hi", &[("host", "a")], OutFraming::Length(0)),
            "GET /hi HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            request(
                "POST",
                "/up",
                &[("Content-Length", "3")],
                OutFraming::Chunked
            ),
            "POST /up HTTP/1.1\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
        );
        assert_eq!(
            request("GET", "/", &[], OutFraming::None),
            "GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn request_close_and_http10() {
        let mut out = BytesMut::new();
        write_request_head(
            &mut out,
            b"HEAD",
            b"/x",
            Version::Http10,
            std::iter::empty(),
            OutFraming::Length(0),
            false,
        );
        assert_eq!(
            &out[..],
            b"HEAD /x HTTP/1.0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn request_line_sanitised() {
        assert!(request("", "", &[], OutFraming::None).starts_with("GET / HTTP/1.1\r\n"));
        assert!(
            request("G E\rT", "/a b\r\nc", &[], OutFraming::None)
                .starts_with("GET /a%20b%0D%0Ac HTTP/1.1\r\n")
        );
    }

    #[test]
    fn error_responses() {
        let mut out = BytesMut::new();
        write_error_response(&mut out, 400);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        out.clear();
        write_error_response(&mut out, 431);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        out.clear();
        write_error_response(&mut out, 501);
        assert!(out.starts_with(b"HTTP/1.1 501 Not Implemented\r\n"));
    }

    #[test]
    fn decimal_and_continue() {
        let mut out = BytesMut::new();
        write_decimal(&mut out, 0);
        out.extend_from_slice(b" ");
        write_decimal(&mut out, u64::MAX);
        assert_eq!(&out[..], b"0 18446744073709551615");
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn encoded_head_parses_back() {
        let mut out = BytesMut::new();
        write_response_head(
            &mut out,
            Version::Http11,
            200,
            b"OK",
            pairs(&[("x-a", "1")]),
            OutFraming::Chunked,
            false,
        );
        let buf = out.freeze();
        let Ok(super::super::head::Parsed::Complete(h, n)) =
            super::super::head::parse_response_head(&buf)
        else {
            panic!("parse back")
        };
        assert_eq!(n, buf.len());
        assert_eq!(
            super::super::framing::response_framing(&h, false, false),
            Ok(super::super::framing::BodyFraming::Chunked)
        );
        assert!(!super::super::framing::is_keep_alive(h.version, &h.headers));
    }
}
