//! Acceptance, zero-copy forwarding (`net::pipe`): bulk bodies through the proxy are spliced
//! socket → pipe → socket in both directions, arrive byte-identical however they are framed
//! and however slowly the client reads, are copied out intact where a script looks at them,
//! and the worker's pipes stay bounded. `--no-splice` copies them as before.

mod common;
mod mock;

use common::*;
use mock::{Backend, Service, digest};
use std::io::{Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What the worker logs (at debug level) when a body starts going through pipes.
const SPLICED: &str = "bulk input spliced through a pipe";
/// What it logs when the receive low-water mark engages, with or without splicing.
const BULK: &str = "bulk input, low-water mark";

/// Pipy's tutorial 03 proxy in front of `target`, with `response_filters` after `muxHTTP`.
fn start_proxy(target: u16, response_filters: &str, options: &[&str]) -> (Pipy, u16, TempDir) {
    let dir = TempDir::new("splice");
    let upstream = format!(".connect('127.0.0.1:{target}')");
    let main = dir.write(
        "proxy.js",
        &tutorial_proxy_script("", response_filters, &upstream),
    );
    let port = free_port();
    let mut args = vec!["--single-process", "--log-level=debug"];
    args.extend_from_slice(options);
    let mut pipy = Pipy::serve(&main, port, &args);
    pipy.wait_port(port);
    (pipy, port, dir)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The worker's log says a body went through a pipe.
fn assert_spliced(pipy: &Pipy, what: &str) {
    assert!(
        pipy.stderr_contains(SPLICED, Duration::from_secs(2)),
        "{what} was not spliced:\n{}",
        pipy.stderr()
    );
}

fn assert_same_body(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_eq!(digest(got), digest(want), "{what}: bytes changed");
}

#[test]
fn a_large_response_is_spliced_to_the_client_byte_identical() {
    let body = Arc::new(pattern_bytes(8 << 20, 71));
    let origin = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_proxy(origin.port(), "", &[]);
    let mut conn = Conn::open(port);
    for i in 0..3 {
        let response = conn.roundtrip(&get(&format!("/big/{i}")));
        assert_eq!(response.status, 200, "response {i}");
        assert_same_body(&response.body, &body, &format!("response {i}"));
    }
    assert_spliced(&pipy, "an 8 MiB response");
}

#[test]
fn with_no_splice_a_large_response_is_copied_byte_identical() {
    let body = Arc::new(pattern_bytes(4 << 20, 72));
    let origin = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_proxy(origin.port(), "", &["--no-splice"]);
    let response = http_get(port, "/big");
    assert_eq!(response.status, 200);
    assert_same_body(&response.body, &body, "response");
    // The body was read in bulk, but not through a pipe.
    assert!(pipy.stderr_contains(BULK, Duration::from_secs(2)));
    assert!(!pipy.stderr().contains(SPLICED), "{}", pipy.stderr());
}

#[test]
fn a_large_upload_is_spliced_to_the_upstream_byte_identical() {
    let upload = pattern_bytes(8 << 20, 73);
    let origin = Backend::start(Service::Digest);
    let (pipy, port, _dir) = start_proxy(origin.port(), "", &[]);
    let mut conn = Conn::open(port);
    for i in 0..2 {
        let response = conn.roundtrip(&request("POST", "/up", &[], &upload));
        assert_eq!(response.status, 200, "upload {i}: {response:?}");
        assert_eq!(
            response.text(),
            format!("{} {:016x}", upload.len(), digest(&upload)),
            "upload {i}: bytes changed"
        );
    }
    assert_spliced(&pipy, "an 8 MiB upload");
}

/// An origin answering every request with `body` as chunks of `chunk` bytes (the last one
/// shorter), all written at once.
fn chunked_origin(body: Arc<Vec<u8>>, chunk: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let port = listener.local_addr().expect("origin address").port();
    let mut wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(chunk) {
        wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let wire = Arc::new(wire);
    thread::spawn(move || {
        // A session given up for a slow client is replaced by a new connection.
        for s in listener.incoming() {
            let (Ok(mut s), wire) = (s, wire.clone()) else {
                return;
            };
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while let Ok(1) = s.read(&mut byte) {
                    head.push(byte[0]);
                    if head.ends_with(b"\r\n\r\n") {
                        head.clear();
                        if s.write_all(&wire).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn a_chunked_response_is_spliced_within_its_chunks_byte_identical() {
    let body = Arc::new(pattern_bytes((6 << 20) + 12_345, 74));
    let origin_port = chunked_origin(body.clone(), 1 << 20);
    let (pipy, port, _dir) = start_proxy(origin_port, "", &[]);
    let mut conn = Conn::open(port);
    for i in 0..2 {
        let response = conn.roundtrip(&get(&format!("/chunked/{i}")));
        assert_eq!(response.status, 200, "response {i}");
        assert!(
            response.is_chunked(),
            "response {i}: {:?}",
            response.headers
        );
        assert_same_body(&response.body, &body, &format!("response {i}"));
    }
    assert_spliced(&pipy, "a response in 1 MiB chunks");
}

/// Bytes a script looks at are copied out of their pipe first: it sees them all, in order,
/// and what it passes on is what the origin sent.
#[test]
fn a_script_reading_a_spliced_body_sees_every_byte() {
    let body = Arc::new(pattern_bytes(4 << 20, 75));
    let origin = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_proxy(
        origin.port(),
        ".replaceData(d => d).replaceMessageEnd(() => new MessageEnd)",
        &[],
    );
    let response = http_get(port, "/big");
    assert_eq!(response.status, 200);
    assert_same_body(&response.body, &body, "response through replaceData");
    assert_spliced(&pipy, "the response");
}

/// A client with a small receive buffer reading slowly: pieces leave their pipes in many
/// partial splices, and nothing is lost or reordered.
#[test]
fn a_slow_reader_gets_a_spliced_response_whole() {
    let body = Arc::new(pattern_bytes(6 << 20, 76));
    let origin = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_proxy(origin.port(), "", &[]);
    let mut conn = Conn::open_with_receive_buffer(port, 16 << 10);
    conn.send(&get("/big"));
    let mut stream = conn.try_clone_stream();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let want = body.len();
    let mut head_len = None;
    while head_len.is_none_or(|h| raw.len() < h + want) {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {} bytes", raw.len());
        raw.extend_from_slice(&buf[..n]);
        if head_len.is_none() {
            head_len = find(&raw, b"\r\n\r\n").map(|i| i + 4);
        }
        if raw.len() < (1 << 20) {
            // Slow for the first MiB: the worker's queue fills and splices go partial.
            thread::sleep(Duration::from_millis(2));
        }
    }
    let head_len = head_len.unwrap_or_default();
    let head = String::from_utf8_lossy(&raw[..head_len]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // The proxy re-frames a body of this size as chunks (as Pipy does); read to the end.
    let mut framed = raw[head_len..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        while !framed.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "closed mid-body");
            framed.extend_from_slice(&buf[..n]);
        }
        framed = dechunk_so_far(&framed);
    }
    assert_same_body(&framed, &body, "slowly read response");
    assert_spliced(&pipy, "the response");
}

/// Pipes go back to the worker's pool or are closed: after rounds of concurrent large
/// transfers its descriptors come back to where they were, give or take the pool.
#[test]
fn pipes_are_returned_after_concurrent_transfers() {
    let body = Arc::new(pattern_bytes(3 << 20, 77));
    let origin = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_proxy(origin.port(), "", &[]);
    let _ = http_get(port, "/warm-up");
    let before = open_fds(pipy.pid());
    let round = || {
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let body = body.clone();
                thread::spawn(move || {
                    let mut conn = Conn::open(port);
                    for i in 0..3 {
                        let response = conn.roundtrip(&get(&format!("/big/{c}/{i}")));
                        assert_eq!(response.status, 200);
                        assert_same_body(&response.body, &body, "concurrent response");
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client");
        }
    };
    round();
    // Client connections close asynchronously; wait for the count to settle.
    let settled =
        |limit: usize| poll_until(Duration::from_secs(5), || open_fds(pipy.pid()) <= limit);
    // The pool keeps up to 32 idle pipes (64 descriptors); upstream sessions opened for
    // clients that read slower than the origin sends stay open until idle.
    assert!(
        settled(before + 64 + 16),
        "descriptors: {before} before, {} after the first round",
        open_fds(pipy.pid())
    );
    let after_first = open_fds(pipy.pid());
    round();
    round();
    assert!(
        settled(after_first + 16),
        "descriptors grew from {after_first} to {} over two more rounds",
        open_fds(pipy.pid())
    );
    assert_spliced(&pipy, "the response");
}
