//! Message body length (RFC 9112 §6.3) and connection persistence (RFC 9112 §9.3).

use super::head::{Headers, ParseError, RequestHead, ResponseHead, Version, list_items, trim_ows};

/// How the body following a head is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the connection closes (responses only).
    UntilClose,
}

/// What the Transfer-Encoding header fields say, if present.
enum TransferCoding {
    Absent,
    /// The only coding is `chunked`.
    ChunkedOnly,
    /// `chunked` is the final coding, after others (e.g. `gzip, chunked`).
    ChunkedAfterOthers,
    /// The final coding is not `chunked`.
    NotChunked,
}

fn transfer_coding(headers: &Headers) -> Result<TransferCoding, ParseError> {
    if !headers.contains(b"transfer-encoding") {
        return Ok(TransferCoding::Absent);
    }
    let mut count = 0usize;
    let mut last_is_chunked = false;
    for coding in headers
        .get_all(b"transfer-encoding")
        .flat_map(|v| list_items(v))
    {
        // RFC 9112 §6.1: chunked must not be applied twice, so it may appear only last.
        if last_is_chunked {
            return Err(ParseError::Malformed("transfer-encoding after chunked"));
        }
        last_is_chunked = coding_name(coding).eq_ignore_ascii_case(b"chunked");
        count += 1;
    }
    Ok(match (count, last_is_chunked) {
        (0, _) => return Err(ParseError::Malformed("empty transfer-encoding")),
        (1, true) => TransferCoding::ChunkedOnly,
        (_, true) => TransferCoding::ChunkedAfterOthers,
        (_, false) => TransferCoding::NotChunked,
    })
}

/// The coding name without parameters (`gzip;q=1` → `gzip`, RFC 9110 §10.1.4).
fn coding_name(coding: &[u8]) -> &[u8] {
    match coding.iter().position(|&b| b == b';') {
        Some(i) => trim_ows(&coding[..i]),
        None => coding,
    }
}

/// All Content-Length values (list or repeated fields) must be the same decimal number
/// (RFC 9112 §6.3 item 5); `None` when the header is absent.
fn content_length(headers: &Headers) -> Result<Option<u64>, ParseError> {
    let mut found: Option<u64> = None;
    for value in headers.get_all(b"content-length") {
        let mut items = 0usize;
        for item in value.split(|&b| b == b',').map(trim_ows) {
            let n = parse_decimal(item).ok_or(ParseError::Malformed("invalid content-length"))?;
            if found.is_some_and(|prev| prev != n) {
                return Err(ParseError::Malformed("conflicting content-length values"));
            }
            found = Some(n);
            items += 1;
        }
        if items == 0 {
            return Err(ParseError::Malformed("invalid content-length"));
        }
    }
    Ok(found)
}

/// 1*DIGIT without sign or whitespace, rejecting values beyond u64.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// §6.3: TE and CL both present → Malformed (smuggling defence, we reject instead of ignoring CL);
/// TE whose final coding is not chunked → UnsupportedTransferEncoding; several CL values (list or repeated headers)
/// that differ, or non-digit/overflowing CL → Malformed; equal repeated CL values are accepted; no TE/CL → None.
///
/// Stricter than the RFC minimum: TE in an HTTP/1.0 request is Malformed (§6.1 "treat as faulty framing"),
/// and codings before the final chunked (`gzip, chunked`) are UnsupportedTransferEncoding, because we
/// only decode chunked and forwarding would lose the other coding.
pub fn request_framing(head: &RequestHead) -> Result<BodyFraming, ParseError> {
    let te = transfer_coding(&head.headers)?;
    if !matches!(te, TransferCoding::Absent) {
        if head.headers.contains(b"content-length") {
            return Err(ParseError::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        if head.version == Version::Http10 {
            return Err(ParseError::Malformed(
                "transfer-encoding in HTTP/1.0 request",
            ));
        }
    }
    match te {
        TransferCoding::ChunkedOnly => Ok(BodyFraming::Chunked),
        TransferCoding::ChunkedAfterOthers | TransferCoding::NotChunked => {
            Err(ParseError::UnsupportedTransferEncoding)
        }
        TransferCoding::Absent => Ok(match content_length(&head.headers)? {
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::None,
        }),
    }
}

/// For responses: 1xx, 204, 304 and responses to HEAD → None; 2xx to CONNECT → None (tunnel, caller handles);
/// TE chunked (final) → Chunked; TE other → UntilClose; CL → Length (conflict rules as above); else UntilClose.
///
/// TE together with CL is Malformed here too (RFC 9112 §6.3 item 3: "ought to be handled as an error");
/// TE in an HTTP/1.0 response means the framing is faulty (§6.1), so the body runs UntilClose.
pub fn response_framing(
    head: &ResponseHead,
    request_was_head: bool,
    request_was_connect: bool,
) -> Result<BodyFraming, ParseError> {
    let status = head.status;
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless || request_was_head || (request_was_connect && (200..300).contains(&status)) {
        // No body whatever the fields say, but a Content-Length is still checked: it is
        // forwarded, and a sender must not forward one that is invalid (RFC 9110 §8.6).
        content_length(&head.headers)?;
        return Ok(BodyFraming::None);
    }
    let te = transfer_coding(&head.headers)?;
    if !matches!(te, TransferCoding::Absent) {
        if head.headers.contains(b"content-length") {
            return Err(ParseError::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        if head.version == Version::Http10 {
            return Ok(BodyFraming::UntilClose);
        }
    }
    match te {
        TransferCoding::ChunkedOnly | TransferCoding::ChunkedAfterOthers => {
            Ok(BodyFraming::Chunked)
        }
        TransferCoding::NotChunked => Ok(BodyFraming::UntilClose),
        TransferCoding::Absent => Ok(match content_length(&head.headers)? {
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::UntilClose,
        }),
    }
}

/// RFC 9112 §9.3: "close" token in Connection → false; HTTP/1.1 → true; HTTP/1.0 → true only with "keep-alive" token.
pub fn is_keep_alive(version: Version, headers: &Headers) -> bool {
    if headers.has_token(b"connection", b"close") {
        return false;
    }
    match version {
        Version::Http11 => true,
        Version::Http10 => headers.has_token(b"connection", b"keep-alive"),
    }
}

/// true if the request carries `Expect: 100-continue` (case-insensitive) and is HTTP/1.1 (RFC 9110 §10.1.1)
pub fn expects_continue(head: &RequestHead) -> bool {
    head.version == Version::Http11 && head.headers.has_token(b"expect", b"100-continue")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn headers(list: &[(&'static str, &'static str)]) -> Headers {
        Headers(
            list.iter()
                .map(|(n, v)| {
                    (
                        Bytes::from_static(n.as_bytes()),
                        Bytes::from_static(v.as_bytes()),
                    )
                })
                .collect(),
        )
    }

    fn request(version: Version, list: &[(&'static str, &'static str)]) -> RequestHead {
        RequestHead {
            method: Bytes::from_static(b"POST"),
            path: Bytes::from_static(b"/"),
            version,
            headers: headers(list),
        }
    }

    fn req11(list: &[(&'static str, &'static str)]) -> Result<BodyFraming, ParseError> {
        request_framing(&request(Version::Http11, list))
    }

    fn response(status: u16, list: &[(&'static str, &'static str)]) -> ResponseHead {
        ResponseHead {
            version: Version::Http11,
            status,
            reason: Bytes::new(),
            headers: headers(list),
        }
    }

    fn res(status: u16, list: &[(&'static str, &'static str)]) -> Result<BodyFraming, ParseError> {
        response_framing(&response(status, list), false, false)
    }

    fn malformed<T>(r: Result<T, ParseError>) -> bool {
        matches!(r, Err(ParseError::Malformed(_)))
    }

    #[test]
    fn request_without_body() {
        assert_eq!(req11(&[("host", "a")]), Ok(BodyFraming::None));
    }

    #[test]
    fn request_content_length() {
        assert_eq!(
            req11(&[("content-length", "5")]),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            req11(&[("content-length", "0")]),
            Ok(BodyFraming::Length(0))
        );
        assert_eq!(
            req11(&[("content-length", "007")]),
            Ok(BodyFraming::Length(7))
        );
        assert_eq!(
            req11(&[("content-length", "18446744073709551615")]),
            Ok(BodyFraming::Length(u64::MAX))
        );
        assert_eq!(
            req11(&[("content-length", "5, 5")]),
            Ok(BodyFraming::Length(5))
        );
        assert_eq!(
            req11(&[("content-length", "5"), ("content-length", "5")]),
            Ok(BodyFraming::Length(5))
        );
    }

    #[test]
    fn request_bad_content_length() {
        for bad in [
            "5, 6",
            "+5",
            "-5",
            "5 5",
            "0x5",
            "",
            ",",
            "5,",
            "1e3",
            "18446744073709551616",
        ] {
            assert!(malformed(req11(&[("content-length", bad)])), "{bad:?}");
        }
        assert!(malformed(req11(&[
            ("content-length", "5"),
            ("content-length", "6")
        ])));
    }

    #[test]
    fn parsed_content_length_with_spaces_is_trimmed() {
        // The parser trims OWS around field values (RFC 9110 §5.5), so " 5 " on the wire arrives as "5".
        let buf = Bytes::from_static(b"POST / HTTP/1.1\r\nContent-Length:  5 \r\n\r\n");
        let Ok(super::super::head::Parsed::Complete(h, _)) =
            super::super::head::parse_request_head(&buf)
        else {
            panic!("parse")
        };
        assert_eq!(request_framing(&h), Ok(BodyFraming::Length(5)));
        // Inner whitespace around list items is OWS too.
        assert_eq!(
            req11(&[("content-length", " 5 ")]),
            Ok(BodyFraming::Length(5))
        );
    }

    #[test]
    fn request_transfer_encoding() {
        assert_eq!(
            req11(&[("transfer-encoding", "chunked")]),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            req11(&[("transfer-encoding", "Chunked")]),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            req11(&[("transfer-encoding", "gzip")]),
            Err(ParseError::UnsupportedTransferEncoding)
        );
        assert_eq!(
            req11(&[("transfer-encoding", "gzip, chunked")]),
            Err(ParseError::UnsupportedTransferEncoding)
        );
        assert_eq!(
            req11(&[
                ("transfer-encoding", "gzip"),
                ("transfer-encoding", "chunked")
            ]),
            Err(ParseError::UnsupportedTransferEncoding)
        );
        assert!(malformed(req11(&[("transfer-encoding", "chunked, gzip")])));
        assert!(malformed(req11(&[(
            "transfer-encoding",
            "chunked, chunked"
        )])));
        assert!(malformed(req11(&[("transfer-encoding", "")])));
        assert!(malformed(req11(&[("transfer-encoding", " , ")])));
    }

    #[test]
    fn request_te_and_cl_is_rejected() {
        assert!(malformed(req11(&[
            ("transfer-encoding", "chunked"),
            ("content-length", "5")
        ])));
        assert!(malformed(req11(&[
            ("content-length", "5"),
            ("transfer-encoding", "chunked")
        ])));
        assert!(malformed(req11(&[
            ("content-length", "5"),
            ("transfer-encoding", "gzip")
        ])));
    }

    #[test]
    fn http10_request_with_te_is_rejected() {
        let head = request(Version::Http10, &[("transfer-encoding", "chunked")]);
        assert!(malformed(request_framing(&head)));
        let head = request(Version::Http10, &[("content-length", "3")]);
        assert_eq!(request_framing(&head), Ok(BodyFraming::Length(3)));
    }

    #[test]
    fn bodiless_responses() {
        for status in [100, 101, 103, 199, 204, 304] {
            assert_eq!(
                res(status, &[("content-length", "10")]),
                Ok(BodyFraming::None),
                "{status}"
            );
        }
        let ok = response(200, &[("content-length", "10")]);
        assert_eq!(response_framing(&ok, true, false), Ok(BodyFraming::None));
        assert_eq!(response_framing(&ok, false, true), Ok(BodyFraming::None));
        // Not used for framing, still not forwarded when invalid.
        for status in [101, 204, 304] {
            assert!(
                malformed(res(status, &[("content-length", "x2")])),
                "{status}"
            );
            assert!(
                malformed(res(status, &[("content-length", "1, 2")])),
                "{status}"
            );
        }
        assert!(malformed(response_framing(
            &response(200, &[("content-length", "-1")]),
            true,
            false
        )));
        let denied = response(407, &[("content-length", "10")]);
        assert_eq!(
            response_framing(&denied, false, true),
            Ok(BodyFraming::Length(10))
        );
    }

    #[test]
    fn response_bodies() {
        assert_eq!(res(200, &[]), Ok(BodyFraming::UntilClose));
        assert_eq!(
            res(200, &[("content-length", "3")]),
            Ok(BodyFraming::Length(3))
        );
        assert_eq!(
            res(200, &[("transfer-encoding", "chunked")]),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            res(200, &[("transfer-encoding", "gzip, chunked")]),
            Ok(BodyFraming::Chunked)
        );
        assert_eq!(
            res(200, &[("transfer-encoding", "gzip")]),
            Ok(BodyFraming::UntilClose)
        );
        assert!(malformed(res(
            200,
            &[("transfer-encoding", "chunked, gzip")]
        )));
        assert!(malformed(res(200, &[("content-length", "1, 2")])));
        assert!(malformed(res(
            200,
            &[("transfer-encoding", "chunked"), ("content-length", "3")]
        )));
        let mut old = response(200, &[("transfer-encoding", "chunked")]);
        old.version = Version::Http10;
        assert_eq!(
            response_framing(&old, false, false),
            Ok(BodyFraming::UntilClose)
        );
    }

    #[test]
    fn keep_alive_rules() {
        let none = headers(&[]);
        let close = headers(&[("connection", "close")]);
        let ka = headers(&[("connection", "Keep-Alive")]);
        let both = headers(&[("connection", "keep-alive"), ("connection", "close")]);
        let upgrade = headers(&[("connection", "upgrade")]);
        assert!(is_keep_alive(Version::Http11, &none));
        assert!(!is_keep_alive(Version::Http11, &close));
        assert!(is_keep_alive(Version::Http11, &ka));
        assert!(!is_keep_alive(Version::Http11, &both));
        assert!(is_keep_alive(Version::Http11, &upgrade));
        assert!(!is_keep_alive(Version::Http10, &none));
        assert!(!is_keep_alive(Version::Http10, &close));
        assert!(is_keep_alive(Version::Http10, &ka));
        assert!(!is_keep_alive(Version::Http10, &both));
        assert!(!is_keep_alive(Version::Http10, &upgrade));
    }

    #[test]
    fn expect_continue() {
        assert!(expects_continue(&request(
            Version::Http11,
            &[("expect", "100-Continue")]
        )));
        assert!(!expects_continue(&request(
            Version::Http10,
            &[("expect", "100-continue")]
        )));
        assert!(!expects_continue(&request(
            Version::Http11,
            &[("expect", "200-ok")]
        )));
        assert!(!expects_continue(&request(Version::Http11, &[])));
    }
}
