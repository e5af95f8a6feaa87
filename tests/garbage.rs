//! Robustness against bytes no test case spelled out: seeded random mutations of valid requests
//! (sent to `serveHTTP`) and of valid responses (sent by an origin behind the proxy). Whatever
//! the bytes, the worker answers with well-formed responses or closes, within the I/O timeout,
//! and stays up: a keep-alive connection opened before the garbage started is served between
//! cases and after them, on the same worker. The seeds are fixed, so a failure names the case
//! and replays it (the pieces the bytes arrive in may differ, as the kernel merges segments).
//!
//! For a deeper run: `GARBAGE_SCALE=30` multiplies the number of cases, `GARBAGE_SEED=N` starts
//! from other seeds, e.g. `GARBAGE_SCALE=30 GARBAGE_SEED=7 cargo test --test garbage`.

mod common;
mod mock;

use common::*;
use mock::{Backend, Service};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// Mutated requests sent to `serveHTTP`.
const REQUEST_CASES: u64 = 2000;

/// Mutated responses sent through the proxy.
const RESPONSE_CASES: u64 = 1500;

/// `base` cases, times `GARBAGE_SCALE` when that is set.
fn cases(base: u64) -> u64 {
    base * env_number("GARBAGE_SCALE").unwrap_or(1)
}

/// The first seed of a run: 0, or `GARBAGE_SEED` times a stride no run reaches.
fn first_seed() -> u64 {
    env_number("GARBAGE_SEED").unwrap_or(0) << 32
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// xorshift64: deterministic, no crate needed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Spread small seeds so neighbouring cases do not start alike.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that take a parser down its rarer paths: line ends, separators, digits, codings,
/// control and non-ASCII bytes.
const SPICE: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b":",
    b" ",
    b"\t",
    b"0",
    b"9",
    b"-1",
    b"ffffffffffffffff",
    b"99999999999999999999",
    b";ext=1",
    b",",
    b"chunked",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Connection: close\r\n",
    b"Upgrade: websocket\r\n",
    b"\0",
    b"\x7f",
    b"\xff\xfe",
    b"HTTP/1.1 ",
];

/// Applies one to four random edits to `input`: overwrite a byte, insert a fragment or random
/// bytes, delete a range, repeat a range, or cut the tail.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(6) {
            0 if at < len => out[at] = rng.next() as u8,
            1 => {
                let spice = SPICE[rng.below(SPICE.len())];
                out.splice(at..at, spice.iter().copied());
            }
            2 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 if at < len => {
                let end = (at + 1 + rng.below(16)).min(len);
                out.drain(at..end);
            }
            4 if at < len => {
                let end = (at + 1 + rng.below(32)).min(len);
                let copy = out[at..end].to_vec();
                out.splice(end..end, copy);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Writes `bytes` in one to three pieces cut at random (each its own segment on loopback, as
/// the sockets have no Nagle delay), so that parsers also meet the garbage across reads. Stops
/// at the first failed write: the peer may answer 400 and close before reading everything.
fn write_in_pieces(stream: &mut TcpStream, bytes: &[u8], rng: &mut Rng) {
    let _ = stream.set_nodelay(true);
    let mut cuts: Vec<usize> = (0..rng.below(3))
        .map(|_| rng.below(bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut from = 0;
    for to in cuts.into_iter().chain([bytes.len()]) {
        if stream.write_all(&bytes[from..to]).is_err() {
            return;
        }
        from = to;
    }
}

/// What a peer sent on one connection, read as HTTP/1.1 responses.
#[derive(Debug, PartialEq, Eq)]
struct Responses {
    /// Status codes of the complete responses, interim (1xx) ones included.
    statuses: Vec<u16>,
    /// The stream ended inside a response (its head or its body).
    truncated: bool,
}

/// Reads `bytes` as a sequence of responses to GET or POST requests. An error names the first
/// malformed thing: a bad status line or header, or a body framing that does not parse.
fn parse_responses(bytes: &[u8]) -> Result<Responses, String> {
    let mut statuses = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            if rest.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(rest) {
                return Ok(Responses {
                    statuses,
                    truncated: true,
                });
            }
            return Err(format!(
                "not a status line: {:?}",
                String::from_utf8_lossy(rest)
            ));
        };
        // Field values may carry obs-text (bytes 0x80-0xFF, RFC 9110 §5.5): read the head as
        // bytes, lossily where text is needed.
        let head = &rest[..head_end];
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = String::from_utf8_lossy(lines.next().unwrap_or_default());
        let status = status_line
            // A proxy passes the origin's version on, as Pipy does.
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
            // 600-999 pass as they came (a client takes them as 5xx, RFC 9110 §15).
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let shown = String::from_utf8_lossy(line);
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or_else(|| format!("header line without a colon: {shown:?}"))?;
            let name = &line[..colon];
            if name.is_empty() || name.iter().any(|&b| b <= b' ' || b >= 0x7f) {
                return Err(format!("bad header name in {shown:?}"));
            }
            if line.iter().any(|&b| b == b'\r' || b == 0) {
                return Err(format!("CR or NUL in header line {shown:?}"));
            }
            let value = String::from_utf8_lossy(&line[colon + 1..]);
            let value = value.trim();
            if name.eq_ignore_ascii_case(b"content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("bad content-length {value:?}"))?,
                );
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
                if !chunked {
                    return Err(format!("transfer-encoding {value:?}"));
                }
            }
        }
        rest = &rest[head_end + 4..];
        statuses.push(status);
        if (100..200).contains(&status) || status == 204 || status == 304 {
            continue;
        }
        if chunked {
            match chunked_body_len(rest)? {
                Some(n) => rest = &rest[n..],
                None => {
                    return Ok(Responses {
                        statuses,
                        truncated: true,
                    });
                }
            }
        } else if let Some(n) = length {
            if rest.len() < n {
                return Ok(Responses {
                    statuses,
                    truncated: true,
                });
            }
            rest = &rest[n..];
        } else {
            // Delimited by the end of the stream.
            rest = &[];
        }
    }
    Ok(Responses {
        statuses,
        truncated: false,
    })
}

/// Length of the chunked body at the start of `bytes` (trailers included), `None` if it is
/// cut short.
fn chunked_body_len(bytes: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(line_len) = find(&bytes[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&bytes[at..at + line_len]);
        let digits = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(digits, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        at += line_len + 2;
        if size == 0 {
            // Trailer fields, then the empty line.
            loop {
                let Some(line_len) = find(&bytes[at..], b"\r\n") else {
                    return Ok(None);
                };
                at += line_len + 2;
                if line_len == 0 {
                    return Ok(Some(at));
                }
            }
        }
        if bytes.len() < at + size + 2 {
            return Ok(None);
        }
        if &bytes[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".to_string());
        }
        at += size + 2;
    }
}

/// Everything the peer sends until it closes. A reset ends the stream like a close: a server
/// that answers 400 and closes while request bytes are still unread resets the connection.
/// Panics if the peer neither closes nor resets within the I/O timeout.
fn read_until_closed(stream: &mut TcpStream, case: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!(
                "{case}: neither an answer to the end nor a close ({e}); got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

fn connect(port: u16) -> TcpStream {
    connect_stream(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Sends request case `case` (a seed mutated, drawn with `salt`) on a new connection in pieces,
/// half-closes, and reads until the server closes. Returns the case's name (`label`, number
/// and bytes, for failure messages) and the responses, which must be well-formed.
fn exchange_mutated_request(
    port: u16,
    seeds: &[Vec<u8>],
    case: u64,
    salt: u64,
    label: &str,
) -> (String, Vec<u8>, Responses) {
    let mut rng = Rng::new(case ^ salt);
    let bytes = mutate(&seeds[rng.below(seeds.len())], &mut rng);
    let name = format!(
        "{label} case {case} ({:?})",
        String::from_utf8_lossy(&bytes)
    );
    let mut stream = connect(port);
    write_in_pieces(&mut stream, &bytes, &mut rng);
    let _ = stream.shutdown(Shutdown::Write);
    let got = read_until_closed(&mut stream, &name);
    let parsed = parse_responses(&got).unwrap_or_else(|e| {
        panic!(
            "{name}: {e}; the client got {:?}",
            String::from_utf8_lossy(&got)
        )
    });
    (name, got, parsed)
}

/// Checks, after `case`, that the keep-alive connection opened before the garbage is still
/// served (a worker that crashed would have taken it down) with exactly `expected`.
fn assert_healthy(pipy: &Pipy, healthy: &mut Conn, expected: &[u8], case: &str) {
    let response = healthy_roundtrip(pipy, healthy, &get("/healthy"), case);
    assert_bytes_eq(&response.raw, expected);
}

/// Sends `request` on the healthy connection after `case` and reads the answer; a connection
/// that fails (a crashed worker takes it down) fails the test with the server's stderr.
fn healthy_roundtrip(pipy: &Pipy, healthy: &mut Conn, request: &[u8], case: &str) -> Response {
    healthy.send(request);
    healthy
        .try_read_response(BodyRule::Normal)
        .unwrap_or_else(|e| {
            panic!(
                "after {case} the healthy connection failed ({e}); stderr:\n{}",
                pipy.stderr()
            )
        })
}

fn assert_no_panic(pipy: &Pipy) {
    let stderr = pipy.stderr();
    assert!(!stderr.contains("panicked"), "a worker panicked:\n{stderr}");
}

/// Valid requests the mutations start from: a bare GET, bodies framed by length and by chunks
/// (with an extension and a trailer), a pipelined pair, HTTP/1.0 keep-alive, an `Expect`.
fn request_seeds() -> Vec<Vec<u8>> {
    let mut pipelined = get("/one");
    pipelined.extend_from_slice(&request("POST", "/two", &[], b"hello"));
    let mut chunked_post =
        b"POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked_post
        .extend_from_slice(b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
    vec![
        get("/"),
        request(
            "POST",
            "/submit?a=1&b=%20",
            &[("Content-Type", "text/plain"), ("Accept", "*/*")],
            b"a body of some length",
        ),
        chunked_post,
        pipelined,
        b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(),
        request("PUT", "/expect", &[("Expect", "100-continue")], b"12345"),
    ]
}

/// A request's bytes after mutation are whatever they are; the server must answer each
/// request it can read with a well-formed response (a 4xx/5xx for what it cannot), close once
/// the client has half-closed, and keep serving everyone else.
#[test]
fn mutated_requests_get_well_formed_answers_or_a_close() {
    let (pipy, port) = Pipy::serve_script("echo.js");
    let echo_of_get = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n";
    let mut healthy = Conn::open(port);
    assert_bytes_eq(&healthy.roundtrip(&get("/healthy")).raw, echo_of_get);
    let seeds = request_seeds();
    let mut answered = 0u64;
    let (first, count) = (first_seed(), cases(REQUEST_CASES));
    for case in first..first + count {
        let (name, got, parsed) = exchange_mutated_request(port, &seeds, case, 0, "request");
        assert!(
            !parsed.truncated,
            "{name}: the server cut its own response short: {:?}",
            String::from_utf8_lossy(&got)
        );
        answered += u64::from(!parsed.statuses.is_empty());
        assert_healthy(&pipy, &mut healthy, echo_of_get, &name);
    }
    assert_no_panic(&pipy);
    // Most mutations leave something to answer: were the cases exercising the server at all?
    assert!(
        answered > count / 4,
        "only {answered} of {count} cases got any answer"
    );
}

/// Valid responses the mutations start from: framed by length, by chunks (with a trailer) and
/// by the close; bodiless 204 and 304; an interim 100 before the final answer.
fn response_seeds() -> Vec<Vec<u8>> {
    vec![
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nHi, there!\n"
            .to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nHi, \r\n7\r\nthere!\n\r\n0\r\nServer-Timing: a\r\n\r\n"
            .to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the origin closes\n".to_vec(),
        b"HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n".to_vec(),
        b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 42\r\n\r\n".to_vec(),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"
            .to_vec(),
        b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold".to_vec(),
    ]
}

/// What the garbage origin answers next: the bytes, and the seed that cuts them into pieces.
type Answer = Arc<Mutex<(Vec<u8>, u64)>>;

/// An origin that answers every connection's first request with the bytes in `answer` (in
/// pieces), then closes the connection. Runs until the test process ends.
fn start_garbage_origin(answer: Answer) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let port = listener.local_addr().expect("origin address").port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while find(&request, b"\r\n\r\n").is_none() {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let (bytes, seed) = answer.lock().unwrap_or_else(|e| e.into_inner()).clone();
                write_in_pieces(&mut stream, &bytes, &mut Rng::new(seed));
                let _ = stream.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

/// pipy in front of two origins: the garbage origin on `port` and a well-behaved one (tutorial
/// 02's `Hi, there!`) on `healthy_port`, each through its own shared `muxHTTP` session.
struct GarbageProxy {
    answer: Answer,
    port: u16,
    healthy: Conn,
    /// The well-behaved origin's answer as the healthy client first got it.
    healthy_answer: Vec<u8>,
    _good: Backend,
    _dir: TempDir,
    pipy: Pipy,
}

impl GarbageProxy {
    fn start() -> GarbageProxy {
        let answer: Answer = Arc::new(Mutex::new((Vec::new(), 0)));
        let garbage_port = start_garbage_origin(answer.clone());
        let good = Backend::start(Service::Hi);
        let dir = TempDir::new("garbage-proxy");
        let main = dir.write(
            "proxy.js",
            "pipy()\n\
             .listen(+os.env.PORT).demuxHTTP('garbage')\n\
             .listen(+os.env.HEALTHY_PORT).demuxHTTP('good')\n\
             .pipeline('garbage').muxHTTP('to-garbage', '')\n\
             .pipeline('to-garbage').connect('127.0.0.1:' + os.env.GARBAGE)\n\
             .pipeline('good').muxHTTP('to-good', '')\n\
             .pipeline('to-good').connect('127.0.0.1:' + os.env.GOOD)\n",
        );
        let (port, healthy_port) = free_port_pair();
        let (garbage_text, good_text, healthy_text) = (
            garbage_port.to_string(),
            good.port().to_string(),
            healthy_port.to_string(),
        );
        let pipy = Pipy::serve_with(
            &main,
            port,
            &[],
            &[
                ("GARBAGE", garbage_text.as_str()),
                ("GOOD", good_text.as_str()),
                ("HEALTHY_PORT", healthy_text.as_str()),
            ],
        );
        let mut healthy = Conn::open(healthy_port);
        let first = healthy.roundtrip(&get("/healthy"));
        assert_eq!(first.text(), "Hi, there!\n");
        GarbageProxy {
            answer,
            port,
            healthy,
            healthy_answer: first.raw,
            _good: good,
            _dir: dir,
            pipy,
        }
    }

    /// Has the garbage origin answer `bytes` (cut into pieces by `seed`) to one `GET` with
    /// `Connection: close`; returns what the client got until pipy closed, and checks that the
    /// healthy connection is still served.
    fn exchange(&mut self, bytes: Vec<u8>, seed: u64, case: &str) -> Vec<u8> {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = (bytes, seed);
        let mut stream = connect(self.port);
        stream
            .write_all(&request("GET", "/", &[("Connection", "close")], b""))
            .unwrap_or_else(|e| panic!("{case}: write: {e}"));
        let got = read_until_closed(&mut stream, case);
        assert_healthy(&self.pipy, &mut self.healthy, &self.healthy_answer, case);
        got
    }
}

/// The proxy's client sees the origin's answer when it is one, a 502 when it is not, or a
/// close when the origin stopped mid-message; never a hang or a malformed response. Clients
/// of another upstream are served throughout.
#[test]
fn mutated_origin_responses_reach_the_client_well_formed_or_as_502() {
    let mut proxy = GarbageProxy::start();
    let seeds = response_seeds();
    let (mut passed_through, mut bad_gateway) = (0u64, 0u64);
    let (first, count) = (first_seed(), cases(RESPONSE_CASES));
    for case in first..first + count {
        // Other seeds than the requests' cases.
        let mut rng = Rng::new(case ^ 0x5eed_0000_0000_0000);
        let bytes = mutate(&seeds[rng.below(seeds.len())], &mut rng);
        let name = format!(
            "response case {case} ({:?})",
            String::from_utf8_lossy(&bytes)
        );
        let got = proxy.exchange(bytes, rng.next(), &name);
        let parsed = parse_responses(&got).unwrap_or_else(|e| {
            panic!(
                "{name}: {e}; the client got {:?}",
                String::from_utf8_lossy(&got)
            )
        });
        match parsed.statuses.last() {
            Some(502) => bad_gateway += 1,
            Some(_) => passed_through += 1,
            None => {}
        }
        assert!(
            !parsed.statuses.is_empty() || got.is_empty(),
            "{name}: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert_no_panic(&proxy.pipy);
    // Both ways out were taken many times: were the cases exercising the proxy at all?
    assert!(
        passed_through > count / 10 && bad_gateway > count / 10,
        "of {count} answers {passed_through} passed through and {bad_gateway} became 502"
    );
}

/// Answers that are well-formed HTTP/1.1 on the wire but cannot be forwarded: a status code
/// with no class (RFC 9110 §15), and a Content-Length that is invalid even where it does not
/// frame the body (§8.6: a sender must not forward it). Each becomes a 502 for the client.
#[test]
fn origin_answers_that_cannot_be_forwarded_become_502() {
    let mut proxy = GarbageProxy::start();
    let bad_gateway = b"HTTP/1.1 502 Read Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    for answer in [
        &b"HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok"[..],
        b"HTTP/1.1 099 Early\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: x2\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: -1\r\n\r\n",
    ] {
        let case = format!("{:?}", String::from_utf8_lossy(answer));
        let got = proxy.exchange(answer.to_vec(), 0, &case);
        assert!(
            got == bad_gateway,
            "{case}: the client got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert_no_panic(&proxy.pipy);
}

/// Mutated requests through the proxy (tutorial 03's shape: one upstream session shared by
/// every client). What pipy forwards it has parsed and encodes again, so however a client's
/// bytes were mangled the shared session stays in step: a client posting to the echo origin
/// between the garbage gets exactly its own body back every time.
#[test]
fn mutated_requests_through_a_shared_upstream_session_leave_other_clients_in_step() {
    let origin = Backend::start(Service::Echo);
    let port = free_port();
    let upstream = origin.port().to_string();
    let pipy = Pipy::serve_with(
        &script("tutorials/03-proxy.js"),
        port,
        &[],
        &[("UPSTREAM", upstream.as_str())],
    );
    let mut healthy = Conn::open(port);
    let seeds = request_seeds();
    let mut forwarded = 0u64;
    let (first, count) = (first_seed(), cases(REQUEST_CASES) / 2);
    for case in first..first + count {
        let (name, got, parsed) =
            exchange_mutated_request(port, &seeds, case, 0x0bad_0000_0000_0000, "proxied request");
        assert!(
            !parsed.truncated,
            "{name}: the response was cut short: {:?}",
            String::from_utf8_lossy(&got)
        );
        forwarded += u64::from(parsed.statuses.contains(&200));
        let body = format!("healthy after case {case}");
        let request = request("POST", "/healthy", &[], body.as_bytes());
        let response = healthy_roundtrip(&pipy, &mut healthy, &request, &name);
        assert_eq!(response.text(), body, "after {name}");
    }
    assert_no_panic(&pipy);
    // Many cases reached the origin and came back (about a quarter): the session was
    // exercised, not bypassed.
    assert!(
        forwarded > count / 10,
        "only {forwarded} of {count} cases got an answer from the origin"
    );
}

/// Mutated requests to a callback that reads every field of the head (method, path, protocol,
/// each header) into the response, and echoes the path in a header: what the parser accepts
/// the script layer must take in (non-UTF-8 bytes included) and the encoder must put out.
#[test]
fn mutated_requests_to_a_script_that_reads_every_head_field() {
    let dir = TempDir::new("garbage-heads");
    let main = dir.write(
        "heads.js",
        "pipy()\n\
         .listen(+os.env.PORT)\n\
         .serveHTTP(\n\
         \x20 msg => new Message(\n\
         \x20   { status: 200, headers: { 'x-path': msg.head.path, 'x-method': msg.head.method } },\n\
         \x20   JSON.stringify([msg.head, Object.keys(msg.head.headers), msg.body.size])\n\
         \x20 )\n\
         )\n",
    );
    let port = free_port();
    let pipy = Pipy::serve(&main, port, &[]);
    let mut healthy = Conn::open(port);
    let expected = healthy.roundtrip(&get("/healthy")).raw;
    assert!(find(&expected, b"x-path: /healthy\r\n").is_some());
    let seeds = request_seeds();
    let mut handled = 0u64;
    let (first, count) = (first_seed(), cases(REQUEST_CASES) / 2);
    for case in first..first + count {
        let (name, got, parsed) =
            exchange_mutated_request(port, &seeds, case, 0x4ead_0000_0000_0000, "script request");
        handled += u64::from(parsed.statuses.contains(&200));
        assert!(
            !parsed.truncated && !parsed.statuses.contains(&500),
            "{name}: {:?}\nstderr:\n{}",
            String::from_utf8_lossy(&got),
            pipy.stderr()
        );
        assert_healthy(&pipy, &mut healthy, &expected, &name);
    }
    assert_no_panic(&pipy);
    // Many cases reached the callback (about a fifth): the head fields were read, not only
    // rejected at parse.
    assert!(
        handled > count / 10,
        "only {handled} of {count} cases reached the callback"
    );
}
