//! Acceptance, limits and malformed input: every bad request gets the stated status and the
//! connection is closed, while a second connection that was opened before (and is mid-request)
//! is served normally; a throwing callback gets a 500 and the next request succeeds.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Start of a request on the healthy connection; finished after the bad one has been answered.
const HEALTHY_PREFIX: &[u8] = b"GET /healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n";

/// Sends `bad` on a fresh connection of a hello server and expects exactly the error response
/// for `code`, then a close; meanwhile a second connection is served.
fn expect_rejected(bad: &[u8], code: u16, reason: &str) {
    let (pipy, port) = Pipy::serve_script("hello.js");
    let mut healthy = Conn::open(port);
    healthy.send(HEALTHY_PREFIX);

    let mut conn = Conn::open(port);
    conn.send(bad);
    let answer = conn.read_to_close();
    assert_bytes_eq(&answer, &error_response(code, reason));

    healthy.send(b"\r\n");
    let response = healthy.read_response();
    assert_bytes_eq(&response.raw, HELLO_RESPONSE);
    // And a brand-new connection too.
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    drop(pipy);
}

#[test]
fn garbage_request_line_is_400() {
    expect_rejected(b"\x01\x02garbage\x7f\r\n\r\n", 400, "Bad Request");
}

#[test]
fn request_line_without_version_is_400() {
    expect_rejected(b"GET /\r\nHost: x\r\n\r\n", 400, "Bad Request");
}

#[test]
fn unsupported_http_version_is_rejected() {
    // Not HTTP/1.0 or HTTP/1.1: the request line is malformed for this server.
    expect_rejected(b"GET / HTTP/7.1\r\nHost: x\r\n\r\n", 400, "Bad Request");
}

#[test]
fn header_line_without_colon_is_400() {
    expect_rejected(
        b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn whitespace_before_header_colon_is_400() {
    // RFC 9112 §5.1: a server MUST reject whitespace between field name and colon with 400.
    expect_rejected(
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn header_block_over_16_kib_is_431() {
    let mut bad = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    bad.extend(std::iter::repeat_n(b'a', 17 * 1024));
    bad.extend_from_slice(b"\r\n\r\n");
    expect_rejected(&bad, 431, "Request Header Fields Too Large");
}

#[test]
fn unterminated_header_block_over_16_kib_is_431_without_waiting_for_the_end() {
    // The head never ends: the server must answer once it has seen more than 16 KiB.
    let mut bad = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    let mut i = 0;
    while bad.len() < 20 * 1024 {
        bad.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(100)).as_bytes());
        i += 1;
    }
    expect_rejected(&bad, 431, "Request Header Fields Too Large");
}

#[test]
fn header_block_just_under_16_kib_is_accepted() {
    let (_pipy, port) = Pipy::serve_script("hello.js");
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    let fill = 16 * 1024 - head.len() - 4 - 256;
    head.extend(std::iter::repeat_n(b'a', fill));
    head.extend_from_slice(b"\r\n\r\n");
    let response = Conn::open(port).roundtrip(&head);
    assert_bytes_eq(&response.raw, HELLO_RESPONSE);
}

fn request_with_header_count(count: usize) -> Vec<u8> {
    let mut bad = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 1..count {
        bad.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    bad.extend_from_slice(b"\r\n");
    bad
}

#[test]
fn more_than_100_headers_is_431() {
    expect_rejected(
        &request_with_header_count(101),
        431,
        "Request Header Fields Too Large",
    );
}

#[test]
fn exactly_100_headers_are_accepted() {
    let (_pipy, port) = Pipy::serve_script("hello.js");
    let response = Conn::open(port).roundtrip(&request_with_header_count(100));
    assert_bytes_eq(&response.raw, HELLO_RESPONSE);
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    // RFC 9112 §6.1: a request with both is a smuggling vector; reject it.
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn conflicting_content_lengths_are_400() {
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        "Bad Request",
    );
}

#[test]
fn conflicting_content_length_list_is_400() {
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
        "Bad Request",
    );
}

#[test]
fn invalid_content_length_is_400() {
    // RFC 9112 §6.3 item 5.
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn negative_content_length_is_400() {
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        400,
        "Bad Request",
    );
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_501() {
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
        501,
        "Not Implemented",
    );
}

#[test]
fn transfer_encoding_chunked_then_gzip_is_400() {
    // RFC 9112 §6.3: chunked present but not the final coding → 400 and close.
    expect_rejected(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxxxx",
        400,
        "Bad Request",
    );
}

#[test]
fn malformed_chunk_size_is_400() {
    let (_pipy, port) = Pipy::serve_script("echo.js");
    let mut healthy = Conn::open(port);
    healthy.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n");

    let mut conn = Conn::open(port);
    conn.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_bytes_eq(&conn.read_to_close(), &error_response(400, "Bad Request"));

    healthy.send(b"ok");
    assert_eq!(healthy.read_response().text(), "ok");
}

#[test]
fn transfer_encoding_chunked_is_case_insensitive() {
    // RFC 9112 §7: transfer coding names are case-insensitive.
    let (_pipy, port) = Pipy::serve_script("echo.js");
    let mut conn = Conn::open(port);
    conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n");
    conn.send(&chunked(b"mixed case", &[3]));
    assert_eq!(conn.read_response().text(), "mixed case");
}

#[test]
fn bad_request_after_good_ones_on_the_same_connection() {
    let (_pipy, port) = Pipy::serve_script("hello.js");
    let mut conn = Conn::open(port);
    assert_bytes_eq(&conn.roundtrip(&get("/")).raw, HELLO_RESPONSE);
    conn.send(b"NOT A REQUEST\r\n\r\n");
    assert_bytes_eq(&conn.read_to_close(), &error_response(400, "Bad Request"));
}

#[test]
fn throwing_callback_gets_500_and_the_next_request_succeeds() {
    let (pipy, port) = Pipy::serve_script("throw.js");
    let mut conn = Conn::open(port);
    let failed = conn.roundtrip(&get("/throw"));
    assert_eq!(failed.status, 500, "{failed:?}");
    let next = conn.roundtrip(&get("/fine"));
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "still serving");
    assert!(
        pipy.wait_stderr(Duration::from_secs(5), |log| log
            .lines()
            .any(|l| l.contains("boom from serveHTTP") && l.contains("throw.js:7"))),
        "expected the error logged with throw.js:7 on one line; stderr:\n{}",
        pipy.stderr()
    );
    assert_eq!(http_get(port, "/").text(), "still serving");
}

#[test]
fn throwing_sub_pipeline_callback_gets_500_and_the_next_request_succeeds() {
    let (pipy, port) = Pipy::serve_script("throw-demux.js");
    let mut conn = Conn::open(port);
    let failed = conn.roundtrip(&get("/throw"));
    assert_eq!(failed.status, 500, "{failed:?}");
    let next = conn.roundtrip(&get("/fine"));
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "still serving");
    assert!(
        pipy.wait_stderr(Duration::from_secs(5), |log| log.lines().any(|l| l
            .contains("boom from demuxHTTP")
            && l.contains("throw-demux.js:8"))),
        "expected the error logged with throw-demux.js:8 on one line; stderr:\n{}",
        pipy.stderr()
    );
}

#[test]
fn throwing_callback_in_a_pipelined_batch_keeps_order() {
    let (_pipy, port) = Pipy::serve_script("throw-demux.js");
    let mut conn = Conn::open(port);
    let mut batch = get("/a");
    batch.extend_from_slice(&get("/throw"));
    batch.extend_from_slice(&get("/b"));
    conn.send(&batch);
    assert_eq!(conn.read_response().status, 200);
    assert_eq!(conn.read_response().status, 500);
    let last = conn.read_response();
    assert_eq!(last.status, 200);
    assert_eq!(last.text(), "still serving");
}

#[test]
fn idle_connection_is_closed_after_idle_timeout() {
    let (_pipy, port) = Pipy::serve_script("idle.js");
    let mut conn = Conn::open(port);
    assert_bytes_eq(&conn.roundtrip(&get("/")).raw, HELLO_RESPONSE);
    let started = Instant::now();
    conn.expect_closed();
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(800),
        "closed too early, after {idle:?}"
    );
    assert!(
        idle < Duration::from_secs(5),
        "idleTimeout 1 s took {idle:?}"
    );
}

#[test]
fn max_connections_holds_back_extra_connections_until_one_closes() {
    let (_pipy, port) = Pipy::serve_script("max-connections.js");
    let mut first = Conn::open(port);
    assert_bytes_eq(&first.roundtrip(&get("/")).raw, HELLO_RESPONSE);

    // The kernel completes the handshake, but the server must not serve this one yet.
    let mut second = Conn::open(port);
    second.send(&get("/"));
    second.expect_silence(Duration::from_millis(500));

    drop(first);
    let response = second.read_response();
    assert_bytes_eq(&response.raw, HELLO_RESPONSE);
}

#[test]
fn client_vanishing_mid_request_does_not_disturb_others() {
    for script_name in ["echo.js", "demux-reply.js"] {
        let (pipy, port) = Pipy::serve_script(script_name);
        let mut healthy = Conn::open(port);
        healthy.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n");
        for partial in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
            b"GET / HTTP/1.1\r\nHo",
        ] {
            let mut conn = Conn::open(port);
            conn.send(partial);
            drop(conn);
        }
        healthy.send(b"done");
        let response = healthy.read_response();
        assert_eq!(
            response.status,
            if script_name == "echo.js" { 200 } else { 201 }
        );
        assert!(
            response.text().ends_with("done"),
            "{script_name}: {response:?}"
        );
        assert!(
            http_get(port, "/").status < 300,
            "{script_name}: server stopped serving"
        );
        drop(pipy);
    }
}

#[test]
fn chunk_extensions_and_trailers_are_accepted() {
    // RFC 9112 §7.1.1 and §7.1.2: extensions are ignored, trailer fields may follow.
    let (_pipy, port) = Pipy::serve_script("echo.js");
    let mut conn = Conn::open(port);
    conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    conn.send(b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_eq!(conn.read_response().text(), "hello world");
    assert_eq!(
        conn.roundtrip(&request("POST", "/", &[], b"next")).text(),
        "next"
    );
}

/// Sends a GET for `/` on a new connection and waits for hello.js's whole answer until
/// `give_up` says to stop; returns the connection and whether the answer came.
fn hello_unless(port: u16, give_up: impl FnMut() -> bool) -> (std::net::TcpStream, bool) {
    let (stream, got) = request_unless(
        port,
        &get("/"),
        |got| got.len() >= HELLO_RESPONSE.len(),
        give_up,
    );
    let answered = !got.is_empty();
    if answered {
        assert_bytes_eq(&got, HELLO_RESPONSE);
    }
    (stream, answered)
}

/// Out of descriptors, `accept` fails (EMFILE) and connections wait in the listen queue. Once
/// some close, the waiting ones must be taken without a new connection arriving: the listener
/// is edge-triggered, and the readiness that reported them was spent on the failed `accept`.
#[test]
fn connections_queued_while_out_of_descriptors_are_served_once_some_close() {
    const FD_LIMIT: u64 = 48;
    let port = free_port();
    let pipy = Pipy::serve_with_fd_limit(&script("hello.js"), port, &[], (FD_LIMIT, FD_LIMIT));
    // Connections until the worker runs out of descriptors and says so.
    let out_of_descriptors = || pipy.stderr().contains("Too many open files");
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..FD_LIMIT {
        let (stream, answered) = hello_unless(port, out_of_descriptors);
        if answered {
            served.push(stream);
        } else {
            waiting.push(stream);
            break;
        }
    }
    assert_eq!(
        waiting.len(),
        1,
        "{FD_LIMIT} connections all served:\n{}",
        pipy.stderr()
    );
    // Two more arrive while descriptors are short: their readiness is spent too.
    for _ in 0..2 {
        let deadline = Instant::now() + Duration::from_millis(100);
        let (stream, answered) = hello_unless(port, || Instant::now() > deadline);
        assert!(!answered, "served while out of descriptors");
        waiting.push(stream);
    }
    served.truncate(served.len() - 5);
    for (i, stream) in waiting.iter_mut().enumerate() {
        use std::io::Read;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("read timeout");
        let mut got = vec![0u8; HELLO_RESPONSE.len()];
        stream
            .read_exact(&mut got)
            .unwrap_or_else(|e| panic!("waiting connection {i} not served: {e}"));
        assert_bytes_eq(&got, HELLO_RESPONSE);
    }
    // One line when the spell starts and one when it ends, however many attempts failed.
    assert!(
        pipy.stderr_contains("again after", Duration::from_secs(5)),
        "{}",
        pipy.stderr()
    );
    let stderr = pipy.stderr();
    assert_eq!(stderr.matches("Too many open files").count(), 1, "{stderr}");
}

/// The soft limit on open descriptors is raised to the hard one at start (the usual soft 1 024
/// would cap a worker near a thousand connections), and the workers inherit it.
#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let pipy = Pipy::serve_with_fd_limit(&script("hello.js"), free_port(), &[], (256, 4096));
    assert!(
        pipy.stderr_contains("open files limit raised from 256 to 4096", IO_TIMEOUT),
        "{}",
        pipy.stderr()
    );
    let children =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", pipy.pid(), pipy.pid()))
            .expect("read the master's children");
    let worker = children
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no worker:\n{}", pipy.stderr()));
    let limits = std::fs::read_to_string(format!("/proc/{worker}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files line");
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["Max", "open", "files", "4096", "4096", "files"]
    );
}

/// `serveHTTP` holds a request's body whole for its handler, so a body over `maxBodySize`
/// is refused with 413: at once when its length is announced (before a client that asked
/// `Expect: 100-continue` sends it), else once the bytes pass the limit. The rest of the body is
/// read and dropped, and only then does the connection close, so that the client reads the 413
/// rather than a reset.
#[test]
fn request_bodies_over_max_body_size_get_413() {
    let (pipy, port) = Pipy::serve_script("echo-limited.js");
    let too_large = error_response(413, "Content Too Large");
    let exactly = pattern_bytes(1024, 1);

    // At the limit: echoed, and the connection stays open.
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/", &[], &exactly));
    assert_eq!(response.status, 200);
    assert_eq!(response.body, exactly);

    // One byte over, announced: 413 before the body, which is then read to its end.
    let mut head_only = request("POST", "/", &[], &pattern_bytes(1025, 2));
    head_only.truncate(head_only.len() - 1025);
    conn.send(&head_only);
    assert_bytes_eq(&conn.read_exact_bytes(too_large.len()), &too_large);
    conn.send(&pattern_bytes(1025, 2));
    conn.expect_closed();

    // With `Expect: 100-continue` the client is told 413 instead of 100.
    let mut conn = Conn::open(port);
    let mut expecting = request(
        "PUT",
        "/",
        &[("Expect", "100-continue")],
        &pattern_bytes(5000, 3),
    );
    expecting.truncate(expecting.len() - 5000);
    conn.send(&expecting);
    assert_bytes_eq(&conn.read_exact_bytes(too_large.len()), &too_large);

    // A body larger than the sockets' buffers, sent without waiting: every byte of it is taken
    // (had the server closed after its 413, writing the rest would fail with a reset), then
    // the 413 is read whole and the connection closes.
    let mut conn = Conn::open(port);
    conn.send(&request("POST", "/", &[], &pattern_bytes(16 << 20, 4)));
    assert_bytes_eq(&conn.read_to_close(), &too_large);

    // Chunked: refused once the chunks pass the limit; the close follows the last chunk.
    let mut conn = Conn::open(port);
    let mut chunked_request =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked_request.extend_from_slice(&chunked(&pattern_bytes(3000, 5), &[700]));
    conn.send(&chunked_request);
    assert_bytes_eq(&conn.read_to_close(), &too_large);

    // Announcing more than the 64 MiB it would read and drop: closed right after the 413.
    let mut conn = Conn::open(port);
    conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 67108865\r\n\r\n");
    assert_bytes_eq(&conn.read_to_close(), &too_large);

    // Others are served throughout.
    let mut conn = Conn::open(port);
    let small = conn.roundtrip(&request("POST", "/", &[], b"small"));
    assert_eq!(small.body, b"small");
    assert!(pipy.stderr_contains("over maxBodySize 1024: 413", IO_TIMEOUT));
}

/// The default `maxBodySize` is 64 MiB: an announced body one byte over it is refused before
/// any of it is sent.
#[test]
fn request_bodies_over_64_mib_get_413_by_default() {
    let (_pipy, port) = Pipy::serve_script("echo.js");
    let mut conn = Conn::open(port);
    conn.send(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            (64 << 20) + 1
        )
        .as_bytes(),
    );
    let too_large = error_response(413, "Content Too Large");
    assert_bytes_eq(&conn.read_exact_bytes(too_large.len()), &too_large);
}

/// A static `serveHTTP` answer never reads the request body, so the body is counted against
/// `maxBodySize` but not held: a 40 MiB upload in progress leaves the worker's memory as it
/// was, and the answer follows the body's last byte.
#[test]
fn static_answers_do_not_hold_request_bodies() {
    let (pipy, port) = Pipy::serve_script("hello.js");
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/")).status, 200);
    let before = group_rss_kib(pipy.pid());

    const TOTAL: usize = 48 << 20;
    const SENT_FIRST: usize = 40 << 20;
    conn.send(format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n").as_bytes());
    let piece = pattern_bytes(1 << 20, 7);
    for _ in 0..SENT_FIRST >> 20 {
        conn.send(&piece);
    }
    // The sockets' buffers hold a few MiB at most: the worker has read well over 32 MiB.
    let during = group_rss_kib(pipy.pid());
    assert!(
        during < before + (16 << 10),
        "RSS grew from {before} to {during} KiB while the body arrived"
    );
    for _ in SENT_FIRST >> 20..TOTAL >> 20 {
        conn.send(&piece);
    }
    let response = conn.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"Hi, there!\n");
    assert_eq!(conn.roundtrip(&get("/")).status, 200);
}
