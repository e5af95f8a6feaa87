//! Acceptance, proxying: failure answers of the upstream side (502 per queued request, 504 after
//! `readTimeout` while other clients are served), upstream connection reuse through `muxHTTP`,
//! half-closing clients, IPv6 upstreams, and 64 MiB transfers in both directions that must be
//! streamed (byte-identical, worker RSS bounded) rather than buffered.

mod common;
mod mock;

use common::*;
use mock::{Backend, Service, digest};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Size of the big transfers.
const BIG: usize = 64 << 20;

/// Starts the script at `main_path` with `PORT` and the given variables; returns it and its port.
fn start(main_path: &std::path::Path, vars: &[(&str, String)]) -> (Pipy, u16) {
    start_with(main_path, vars, &[])
}

fn start_with(
    main_path: &std::path::Path,
    vars: &[(&str, String)],
    options: &[&str],
) -> (Pipy, u16) {
    let port = free_port();
    let envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (Pipy::serve_with(main_path, port, options, &envs), port)
}

fn tutorial(name: &str) -> std::path::PathBuf {
    script(&format!("tutorials/{name}"))
}

/// Exact bytes of a synthesized failure answer on a kept-alive connection (reference §3.8).
fn failure_response(code: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {reason}\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n")
        .into_bytes()
}

#[test]
fn upstream_down_answers_502_to_each_pipelined_request() {
    let dead_port = free_port();
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", dead_port.to_string())],
    );
    let refused = failure_response(502, "Connection Refused");
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend_from_slice(&get(&format!("/r{i}")));
    }
    conn.send(&batch);
    for i in 0..5 {
        let response = conn.read_response();
        assert!(
            response.raw == refused,
            "request {i} of 5 pipelined: expected {:?}, got {:?}",
            String::from_utf8_lossy(&refused),
            response.raw_text()
        );
    }
    // The connection stays usable, and a new session is tried for the next request.
    assert_bytes_eq(&conn.roundtrip(&get("/again")).raw, &refused);
    assert_bytes_eq(&http_get(port, "/other-client").raw, &refused);
}

/// Routes `/slow*` to SLOW and everything else to FAST, one upstream session per target, with a
/// 1 s read timeout on upstream connections.
const TIMEOUT_SCRIPT: &str = r#"
pipy({
  _target: '',
})

.listen(+os.env.PORT)
  .demuxHTTP('request')

.pipeline('request')
  .handleMessageStart(
    msg => _target = '127.0.0.1:' + (msg.head.path.startsWith('/slow') ? os.env.SLOW : os.env.FAST)
  )
  .muxHTTP('upstream', () => _target)

.pipeline('upstream')
  .connect(() => _target, { readTimeout: 1 })
"#;

const READ_TIMEOUT: Duration = Duration::from_secs(1);

fn start_timeout_proxy(slow: &Backend, fast: &Backend) -> (Pipy, u16, TempDir) {
    let dir = TempDir::new("proxy-timeout");
    let main = dir.write("proxy.js", TIMEOUT_SCRIPT);
    let (pipy, port) = start(
        &main,
        &[
            ("SLOW", slow.port().to_string()),
            ("FAST", fast.port().to_string()),
        ],
    );
    (pipy, port, dir)
}

#[test]
fn silent_upstream_answers_504_after_read_timeout_while_others_are_served() {
    let slow = Backend::start(Service::Silent);
    let fast = Backend::start(Service::Hi);
    let (_pipy, port, _dir) = start_timeout_proxy(&slow, &fast);

    let mut waiting = Conn::open(port);
    let sent = Instant::now();
    waiting.send(&get("/slow"));
    assert!(
        slow.wait_requests(1, IO_TIMEOUT),
        "request reached the silent upstream"
    );

    // Another client is served while the first one waits.
    let mut other = Conn::open(port);
    for _ in 0..5 {
        assert_bytes_eq(&other.roundtrip(&get("/fast")).raw, HELLO_RESPONSE);
    }
    let others_done = sent.elapsed();
    assert!(
        others_done < READ_TIMEOUT,
        "other client served in {others_done:?}, before the timeout"
    );

    let response = waiting.read_response();
    let waited = sent.elapsed();
    assert_bytes_eq(&response.raw, &failure_response(504, "Gateway Timeout"));
    assert!(
        waited >= READ_TIMEOUT - Duration::from_millis(100) && waited < READ_TIMEOUT * 5,
        "504 after {waited:?}, readTimeout is {READ_TIMEOUT:?}"
    );
    // The worker goes on serving.
    assert_bytes_eq(&other.roundtrip(&get("/fast")).raw, HELLO_RESPONSE);
}

#[test]
fn every_request_queued_on_a_timed_out_session_gets_its_own_504() {
    let slow = Backend::start(Service::Silent);
    let fast = Backend::start(Service::Hi);
    let (_pipy, port, _dir) = start_timeout_proxy(&slow, &fast);
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    for i in 0..3 {
        batch.extend_from_slice(&get(&format!("/slow/{i}")));
    }
    conn.send(&batch);
    for i in 0..3 {
        let response = conn.read_response();
        assert!(
            response.raw == failure_response(504, "Gateway Timeout"),
            "request {i} of 3: {:?}",
            response.raw_text()
        );
    }
}

#[test]
fn hundred_requests_on_one_client_connection_use_one_upstream_connection_per_target() {
    let hi = Backend::start(Service::Hi);
    let echo = Backend::start(Service::Echo);
    let ip = Backend::start(Service::TellIp);
    let (_pipy, port) = start(
        &tutorial("04-routing.js"),
        &[
            ("HI", hi.port().to_string()),
            ("ECHO", echo.port().to_string()),
            ("IP", ip.port().to_string()),
        ],
    );
    let mut conn = Conn::open(port);
    for i in 0..50 {
        assert_bytes_eq(
            &conn.roundtrip(&get(&format!("/hi/{i}"))).raw,
            HELLO_RESPONSE,
        );
    }
    let mut batch = Vec::new();
    for i in 50..100 {
        batch.extend_from_slice(&get(&format!("/hi/{i}")));
    }
    conn.send(&batch);
    for _ in 50..100 {
        assert_bytes_eq(&conn.read_response().raw, HELLO_RESPONSE);
    }
    for i in 0..10 {
        let path = format!("/ip/{i}");
        assert_eq!(
            conn.roundtrip(&get(&path)).text(),
            format!("You are requesting {path} from 127.0.0.1\n")
        );
    }
    assert_eq!(hi.requests(), 100);
    assert_eq!(
        hi.connections(),
        1,
        "100 requests over one upstream connection"
    );
    assert_eq!(ip.requests(), 10);
    assert_eq!(ip.connections(), 1);
    let paths: Vec<String> = hi.records().iter().map(|r| r.path.clone()).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("/hi/{i}")).collect();
    assert_eq!(paths, expected, "requests forwarded in order");
}

#[test]
fn response_is_delivered_to_a_client_that_half_closed() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", hi.port().to_string())],
    );
    let mut conn = Conn::open(port);
    conn.send(&get("/"));
    conn.shutdown_write();
    let response = conn.read_response();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), "Hi, there!\n");
}

#[test]
fn connect_reaches_an_ipv6_upstream() {
    let Ok(probe) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine: skipped");
        return;
    };
    drop(probe);
    let hi = Backend::start_on("[::1]:0", Service::Hi);
    let dir = TempDir::new("proxy-v6");
    let main = dir.write(
        "proxy.js",
        r#"
pipy()
.listen(+os.env.PORT)
  .demuxHTTP('forward')
.pipeline('forward')
  .muxHTTP('upstream', '')
.pipeline('upstream')
  .connect('[::1]:' + os.env.UPSTREAM)
"#,
    );
    let (_pipy, port) = start(&main, &[("UPSTREAM", hi.port().to_string())]);
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    assert_eq!(hi.connections(), 1);
}

/// A proxy in front of `target` (host:port) with the given `muxHTTP` and `connect` options.
fn start_forwarder(target: &str, mux_options: &str, connect_options: &str) -> (Pipy, u16, TempDir) {
    start_forwarder_with(target, mux_options, connect_options, &[])
}

fn start_forwarder_with(
    target: &str,
    mux_options: &str,
    connect_options: &str,
    options: &[&str],
) -> (Pipy, u16, TempDir) {
    let upstream = format!(".connect(os.env.TARGET, {connect_options})");
    start_forwarder_through(target, mux_options, &upstream, options)
}

/// A proxy in front of `target` (host:port, as `os.env.TARGET`) whose upstream pipeline is
/// `upstream`, the filters after `.pipeline('upstream')`.
fn start_forwarder_through(
    target: &str,
    mux_options: &str,
    upstream: &str,
    options: &[&str],
) -> (Pipy, u16, TempDir) {
    let dir = TempDir::new("proxy-forward");
    let main = dir.write(
        "proxy.js",
        &tutorial_proxy_script(mux_options, "", upstream),
    );
    let (pipy, port) = start_with(&main, &[("TARGET", target.to_string())], options);
    (pipy, port, dir)
}

#[test]
fn idle_upstream_session_is_closed_after_max_idle_and_replaced() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port, _dir) =
        start_forwarder(&format!("127.0.0.1:{}", hi.port()), "{ maxIdle: 1 }", "{}");
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    assert_closed_a_max_idle_after(&hi, Instant::now());
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    assert_eq!(
        hi.connections(),
        2,
        "a new upstream connection for the next request"
    );
}

/// The session's one idle timer, armed when it first fell idle, fires while a later idle spell
/// is still short of `maxIdle`: it must wait out the rest of that spell, not close early.
#[test]
fn idle_upstream_session_lives_max_idle_after_its_last_use() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port, _dir) =
        start_forwarder(&format!("127.0.0.1:{}", hi.port()), "{ maxIdle: 1 }", "{}");
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    // Used again when the first idle timer is 0.6 s along; it fires 0.4 s into this spell.
    std::thread::sleep(Duration::from_millis(600));
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    assert_closed_a_max_idle_after(&hi, Instant::now());
    assert_eq!(hi.connections(), 1, "both requests used the one session");
}

/// The backend's one connection closes within 5 s of `last_use`, and not before the 1 s
/// `maxIdle` the forwarders above are given (less a margin for the timer's granularity).
fn assert_closed_a_max_idle_after(backend: &Backend, last_use: Instant) {
    assert!(
        poll_until(Duration::from_secs(5), || backend.closed() == 1),
        "idle upstream connection not closed 5 s after its last use (maxIdle 1 s)"
    );
    let closed_after = last_use.elapsed();
    assert!(
        closed_after >= Duration::from_millis(900),
        "closed {closed_after:?} after its last use, before maxIdle"
    );
}

#[test]
fn upstream_that_closes_after_each_response_is_replaced_by_a_new_connection() {
    let hi = Backend::start(Service::HiThenClose);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", hi.port().to_string())],
    );
    let mut conn = Conn::open(port);
    for i in 0..3 {
        let response = conn.roundtrip(&get(&format!("/r{i}")));
        assert_eq!(response.status, 200, "request {i}: {response:?}");
        assert_eq!(response.text(), "Hi, there!\n");
        assert_eq!(
            response.header("connection"),
            Some("keep-alive"),
            "the client connection is not the upstream's"
        );
        assert!(
            poll_until(IO_TIMEOUT, || hi.closed() == i + 1),
            "upstream closed"
        );
    }
    assert_eq!(hi.connections(), 3);
}

#[test]
fn response_delimited_by_upstream_close_is_reframed_for_the_client() {
    let hi = Backend::start(Service::HiUntilClose);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", hi.port().to_string())],
    );
    let mut conn = Conn::open(port);
    for _ in 0..2 {
        assert_bytes_eq(&conn.roundtrip(&get("/")).raw, HELLO_RESPONSE);
    }
}

#[test]
fn upstream_reset_answers_502_bad_gateway() {
    let reset = Backend::start(Service::Reset);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", reset.port().to_string())],
    );
    let mut conn = Conn::open(port);
    for _ in 0..2 {
        assert_bytes_eq(
            &conn.roundtrip(&get("/")).raw,
            &failure_response(502, "Bad Gateway"),
        );
    }
    assert_eq!(reset.requests(), 2);
}

#[test]
fn unresolvable_upstream_answers_502_cannot_resolve() {
    let (_pipy, port, _dir) = start_forwarder("no-such-host.invalid:80", "{}", "{}");
    let mut conn = Conn::open(port);
    for _ in 0..2 {
        assert_bytes_eq(
            &conn.roundtrip(&get("/")).raw,
            &failure_response(502, "Cannot Resolve"),
        );
    }
}

#[test]
fn connect_retries_until_the_upstream_comes_up() {
    let upstream_port = free_port();
    let (pipy, port, _dir) = start_forwarder_with(
        &format!("127.0.0.1:{upstream_port}"),
        "{}",
        "{ retryCount: 30, retryDelay: 0.1 }",
        &["--log-level=debug"],
    );
    let mut conn = Conn::open(port);
    conn.send(&get("/"));
    // Two refused attempts first, then the upstream comes up.
    let refused = format!("to 127.0.0.1:{upstream_port} failed");
    assert!(
        pipy.wait_stderr(Duration::from_secs(5), |log| log.matches(&refused).count()
            >= 2),
        "no failed connect attempts:\n{}",
        pipy.stderr()
    );
    let hi = Backend::start_on(&format!("127.0.0.1:{upstream_port}"), Service::Hi);
    assert_bytes_eq(&conn.read_response().raw, HELLO_RESPONSE);
    assert_eq!(hi.connections(), 1);
}

/// A listener whose accept queue is full and never drained: further connection attempts get
/// no answer at all (Linux drops SYNs for a full queue), like an unreachable host.
fn black_hole() -> (socket2::Socket, Vec<std::net::TcpStream>, u16) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
    listener.bind(&addr.into()).expect("bind");
    listener.listen(0).expect("listen");
    let port = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("port");
    // Fill the queue; attempts beyond it time out.
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(300),
        ) {
            Ok(stream) => fillers.push(stream),
            Err(_) => break,
        }
    }
    (listener, fillers, port)
}

#[test]
fn connect_timeout_answers_504() {
    let (_listener, _fillers, hole) = black_hole();
    let (_pipy, port, _dir) = start_forwarder(
        &format!("127.0.0.1:{hole}"),
        "{}",
        "{ connectTimeout: 0.5 }",
    );
    let mut conn = Conn::open(port);
    let sent = Instant::now();
    let response = conn.roundtrip(&get("/"));
    let waited = sent.elapsed();
    assert_bytes_eq(&response.raw, &failure_response(504, "Gateway Timeout"));
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "504 after {waited:?}, connectTimeout is 0.5 s"
    );
}

#[test]
fn http_1_0_client_gets_connection_close_through_the_proxy() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", hi.port().to_string())],
    );
    let mut conn = Conn::open(port);
    conn.send(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let response = conn.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hi, there!\n");
    assert_eq!(response.header("connection"), Some("close"));
    conn.expect_closed();
}

#[test]
fn pipelined_posts_are_answered_in_order_with_their_own_bodies() {
    let echo = Backend::start(Service::Echo);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", echo.port().to_string())],
    );
    let mut conn = Conn::open(port);
    let bodies: Vec<Vec<u8>> = (0..60)
        .map(|i| {
            // Sizes around the 16 KiB encoder buffer, so some go out chunked.
            let len = [5usize, 16_383, 16_384, 16_385, 70_000][i % 5] + i;
            pattern_bytes(len, i as u64 + 1)
        })
        .collect();
    let mut batch = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        batch.extend_from_slice(&request("POST", &format!("/p{i}"), &[], body));
    }
    let writer = {
        let mut stream = conn.try_clone_stream();
        thread::spawn(move || {
            use std::io::Write;
            stream.write_all(&batch).expect("send the batch");
        })
    };
    for (i, body) in bodies.iter().enumerate() {
        let response = conn.read_response();
        assert_eq!(response.status, 200, "request {i}");
        assert!(
            response.body == *body,
            "response {i} does not carry body {i} ({} bytes, got {})",
            body.len(),
            response.body.len()
        );
    }
    writer.join().expect("writer thread");
    assert_eq!(echo.connections(), 1);
}

#[test]
fn concurrent_clients_on_one_upstream_session_get_their_own_responses() {
    let ip = Backend::start(Service::TellIp);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", ip.port().to_string())],
    );
    let clients: Vec<_> = (0..4)
        .map(|client| {
            thread::spawn(move || {
                let mut conn = Conn::open(port);
                for round in 0..5 {
                    let paths: Vec<String> = (0..10)
                        .map(|i| format!("/c{client}/r{round}/{i}"))
                        .collect();
                    let batch: Vec<u8> = paths.iter().flat_map(|p| get(p)).collect();
                    conn.send(&batch);
                    for path in &paths {
                        let text = conn.read_response().text();
                        assert_eq!(
                            text,
                            format!("You are requesting {path} from 127.0.0.1\n"),
                            "a response went to the wrong request"
                        );
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    assert_eq!(ip.requests(), 200);
    assert_eq!(
        ip.connections(),
        1,
        "muxHTTP key '': one shared upstream connection"
    );
}

#[test]
fn head_requests_keep_the_upstream_session_in_sync() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", hi.port().to_string())],
    );
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    for method in ["HEAD", "GET", "HEAD", "HEAD", "GET"] {
        batch.extend_from_slice(&request(method, "/", &[], b""));
    }
    conn.send(&batch);
    for method in ["HEAD", "GET", "HEAD", "HEAD", "GET"] {
        let rule = if method == "HEAD" {
            BodyRule::HeadRequest
        } else {
            BodyRule::Normal
        };
        let response = conn.read_response_for(rule);
        assert_eq!(response.status, 200, "{method}: {response:?}");
        if method == "GET" {
            assert_eq!(response.text(), "Hi, there!\n");
        }
    }
    assert_eq!(hi.connections(), 1);
    conn.expect_silence(Duration::from_millis(300));
}

#[test]
fn a_client_leaving_mid_response_does_not_disturb_the_next_ones() {
    let body = Arc::new(pattern_bytes(16 << 20, 7));
    let expected = digest(&body);
    let blob = Backend::start(Service::Blob(body));
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", blob.port().to_string())],
    );
    {
        let mut leaving = Conn::open(port);
        leaving.send(&get("/first"));
        let _ = leaving.read_exact_bytes(1 << 20);
    }
    for i in 0..2 {
        let response = http_get(port, &format!("/next{i}"));
        assert_eq!(response.status, 200);
        assert_eq!(
            digest(&response.body),
            expected,
            "response {i} after an abandoned one is corrupted ({} bytes)",
            response.body.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 64 MiB through the proxy
// ---------------------------------------------------------------------------------------------

/// The pipy worker: the child process of the master we started.
fn worker_pid(master: u32) -> u32 {
    let mut found = None;
    assert!(
        poll_until(START_TIMEOUT, || {
            found = child_of(master);
            found.is_some()
        }),
        "no worker process under master {master}"
    );
    found.unwrap_or_default()
}

fn child_of(parent: u32) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // Fields after the parenthesised command name: state, ppid, ...
        let after_name = &stat[stat.rfind(')')? + 1..];
        let ppid: u32 = after_name.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent).then_some(pid)
    })
}

/// VmRSS of a process in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    Some(proc_status_number(pid, "VmRSS")? * 1024)
}

/// Samples a process's RSS every few milliseconds until dropped; keeps the maximum.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: Option<thread::JoinHandle<()>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(rss) = rss_bytes(pid) {
                        peak.fetch_max(rss, Ordering::SeqCst);
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            })
        };
        RssWatch {
            peak,
            stop,
            sampler: Some(sampler),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        self.peak.load(Ordering::SeqCst)
    }
}

/// The 04 router with HI = a small service (warm-up), IP = a 64 MiB body, ECHO = a digest of
/// the upload; returns the proxy, its port, its worker's pid and the worker's idle RSS.
/// How much a worker may grow while streaming 64 MiB through: its queues hold about 1 MiB per
/// direction (a run grows ~1.3 MiB); buffering even a quarter of the body would exceed this.
const STREAMING_HEADROOM: u64 = 16 << 20;

fn start_big_transfer_proxy(
    hi: &Backend,
    blob: &Backend,
    digester: &Backend,
) -> (Pipy, u16, u32, u64) {
    let (pipy, port) = start(
        &tutorial("04-routing.js"),
        &[
            ("HI", hi.port().to_string()),
            ("IP", blob.port().to_string()),
            ("ECHO", digester.port().to_string()),
        ],
    );
    let worker = worker_pid(pipy.pid());
    // Warm up: the first proxied request builds the JS values, session and connection.
    assert_bytes_eq(&http_get(port, "/hi").raw, HELLO_RESPONSE);
    let idle = rss_bytes(worker).expect("worker RSS");
    (pipy, port, worker, idle)
}

#[test]
fn big_response_is_streamed_byte_identical_with_bounded_memory() {
    let body = Arc::new(pattern_bytes(BIG, 64));
    let expected = digest(&body);
    let hi = Backend::start(Service::Hi);
    let blob = Backend::start(Service::Blob(body));
    let digester = Backend::start(Service::Digest);
    let (_pipy, port, worker, idle) = start_big_transfer_proxy(&hi, &blob, &digester);

    let watch = RssWatch::start(worker);
    let response = http_get(port, "/ip/big");
    let peak = watch.finish();
    eprintln!(
        "worker RSS: idle {} KiB, peak {} KiB",
        idle >> 10,
        peak >> 10
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body.len(), BIG);
    assert_eq!(digest(&response.body), expected, "response bytes changed");
    assert!(
        peak < idle + STREAMING_HEADROOM,
        "worker RSS peaked at {} MiB, idle was {} MiB: the response was buffered",
        peak >> 20,
        idle >> 20
    );
}

#[test]
fn big_upload_is_streamed_byte_identical_with_bounded_memory() {
    let upload = pattern_bytes(BIG, 46);
    let expected = format!("{} {:016x}", upload.len(), digest(&upload));
    let hi = Backend::start(Service::Hi);
    let blob = Backend::start(Service::Blob(Arc::new(Vec::new())));
    let digester = Backend::start(Service::Digest);
    let (_pipy, port, worker, idle) = start_big_transfer_proxy(&hi, &blob, &digester);

    let watch = RssWatch::start(worker);
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/echo", &[], &upload));
    let peak = watch.finish();
    eprintln!(
        "worker RSS: idle {} KiB, peak {} KiB",
        idle >> 10,
        peak >> 10
    );
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), expected, "upload bytes changed");
    assert!(
        peak < idle + STREAMING_HEADROOM,
        "worker RSS peaked at {} MiB, idle was {} MiB: the upload was buffered",
        peak >> 20,
        idle >> 20
    );
}

#[test]
fn big_response_to_a_slow_reader_is_held_back_not_buffered() {
    let body = Arc::new(pattern_bytes(BIG, 65));
    let expected = digest(&body);
    let hi = Backend::start(Service::Hi);
    let blob = Backend::start(Service::Blob(body));
    let digester = Backend::start(Service::Digest);
    let (_pipy, port, worker, idle) = start_big_transfer_proxy(&hi, &blob, &digester);

    let watch = RssWatch::start(worker);
    let mut conn = Conn::open(port);
    conn.send(&get("/ip/big"));
    // The client reads nothing for a while: the proxy must stop reading the upstream.
    thread::sleep(Duration::from_millis(1500));
    let response = conn.read_response();
    let peak = watch.finish();
    eprintln!(
        "worker RSS: idle {} KiB, peak {} KiB",
        idle >> 10,
        peak >> 10
    );
    assert_eq!(digest(&response.body), expected, "response bytes changed");
    assert!(
        peak < idle + STREAMING_HEADROOM,
        "worker RSS peaked at {} MiB, idle was {} MiB: the response was buffered for a slow client",
        peak >> 20,
        idle >> 20
    );
}

/// Tutorial 03 (every client on one upstream session) in front of an origin whose `/big`
/// answer is `body`, sent once the next request has reached it; returns the proxy, its port,
/// the origin, and the worker's pid and RSS after a first request. Logs at debug level, where
/// a session that has fallen behind says so.
fn start_shared_session_proxy(body: Arc<Vec<u8>>) -> (Pipy, u16, Backend, u32, u64) {
    let origin = Backend::start(Service::BigWhenNext(body));
    let (pipy, port) = start_with(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", origin.port().to_string())],
        &["--log-level=debug"],
    );
    let worker = worker_pid(pipy.pid());
    assert_eq!(http_get(port, "/warm-up").text(), "small\n");
    let idle = rss_bytes(worker).expect("worker RSS");
    (pipy, port, origin, worker, idle)
}

/// On a session every client shares, a client that does not read its 7 MiB response does not
/// hold up the request another client pipelined behind it: the session reads on for it (up to
/// 8 MiB queued) instead of pausing the upstream at the usual 1 MiB. Having fallen behind, the
/// session takes no new requests: the next one opens a second upstream connection. (The kernel
/// takes part of the response into the proxy's send buffer, which it grows up to `tcp_wmem`'s
/// 4 MiB: about 3.7 MiB on an idle host, less under load; 1 MiB or more stays in the proxy.)
#[test]
fn a_client_not_reading_does_not_hold_up_requests_behind_it_on_a_shared_session() {
    let big = Arc::new(pattern_bytes(7 << 20, 91));
    let (_pipy, port, origin, _worker, _idle) = start_shared_session_proxy(big.clone());
    let mut slow = Conn::open_with_receive_buffer(port, 16 << 10);
    slow.send(&get("/big"));
    assert!(poll_until(IO_TIMEOUT, || origin.requests() == 2));
    // Pipelined behind /big on the one upstream connection; the origin answers /big now.
    let mut other = Conn::open(port);
    assert_eq!(other.roundtrip(&get("/small")).text(), "small\n");
    assert_eq!(origin.connections(), 1);
    assert_eq!(other.roundtrip(&get("/later")).text(), "small\n");
    assert_eq!(
        origin.connections(),
        2,
        "a new session after falling behind"
    );
    let response = slow.read_response();
    assert_eq!(response.status, 200);
    assert!(response.body == *big, "the slow client's response changed");
}

/// A response larger than the read-ahead, to a client that does not read: the session stops
/// reading the upstream once 8 MiB are queued (memory stays bounded), so the request pipelined
/// behind it waits until the client catches up; requests sent meanwhile go to a new session
/// and are answered at once.
#[test]
fn a_client_not_reading_a_large_response_holds_the_shared_upstream_within_bounds() {
    let big = Arc::new(pattern_bytes(48 << 20, 92));
    let (pipy, port, origin, worker, idle) = start_shared_session_proxy(big.clone());
    let watch = RssWatch::start(worker);
    let mut slow = Conn::open_with_receive_buffer(port, 16 << 10);
    slow.send(&get("/big"));
    assert!(poll_until(IO_TIMEOUT, || origin.requests() == 2));
    // The origin answers /big once this has reached it, pipelined behind.
    let mut behind = Conn::open(port);
    behind.send(&get("/behind"));
    assert!(pipy.stderr_contains("new requests go to a new session", IO_TIMEOUT));
    assert_eq!(http_get(port, "/meanwhile").text(), "small\n");
    assert_eq!(origin.connections(), 2);
    // Reading on for the slow client would take the worker past the bound within this time.
    thread::sleep(Duration::from_millis(500));
    let response = slow.read_response();
    assert!(response.body == *big, "the slow client's response changed");
    assert_eq!(behind.read_response().text(), "small\n");
    let peak = watch.finish();
    eprintln!(
        "worker RSS: idle {} KiB, peak {} KiB",
        idle >> 10,
        peak >> 10
    );
    assert!(
        peak < idle + STREAMING_HEADROOM,
        "worker RSS peaked at {} MiB, idle was {} MiB: the response was buffered for a slow client",
        peak >> 20,
        idle >> 20
    );
}

/// On a session every client shares, a request is not pipelined behind a body that is still
/// arriving: the client sending it could take any time. It goes to a new upstream connection
/// and is answered at once; the upload is answered when its last byte arrives.
#[test]
fn a_slow_upload_does_not_hold_up_other_clients_on_a_shared_session() {
    let echo = Backend::start(Service::Echo);
    let (_pipy, port) = start(
        &tutorial("03-proxy.js"),
        &[("UPSTREAM", echo.port().to_string())],
    );
    assert_eq!(http_get(port, "/warm-up").status, 200);
    // More than muxHTTP's 4 KiB `bufferSize` arrives first, so the request goes out at once.
    let body = pattern_bytes(100 << 10, 93);
    let upload = request("POST", "/upload", &[], &body);
    let (first, rest) = upload.split_at(upload.len() - (50 << 10));
    let mut uploader = Conn::open(port);
    uploader.send(first);
    assert!(poll_until(IO_TIMEOUT, || echo.heads() == 2));
    let other = http_get(port, "/other");
    assert_eq!((other.status, other.body.len()), (200, 0));
    assert_eq!(echo.connections(), 2);
    uploader.send(rest);
    assert_eq!(uploader.read_response().body, body);
}

#[test]
fn big_upload_to_a_slow_upstream_is_held_back_not_buffered() {
    let upload = pattern_bytes(BIG, 47);
    let expected = format!("{} {:016x}", upload.len(), digest(&upload));
    let hi = Backend::start(Service::Hi);
    let blob = Backend::start(Service::Blob(Arc::new(Vec::new())));
    let slow = Backend::start(Service::SlowDigest);
    let (_pipy, port, worker, idle) = start_big_transfer_proxy(&hi, &blob, &slow);

    let watch = RssWatch::start(worker);
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/echo", &[], &upload));
    let peak = watch.finish();
    eprintln!(
        "worker RSS: idle {} KiB, peak {} KiB",
        idle >> 10,
        peak >> 10
    );
    assert_eq!(response.text(), expected, "upload bytes changed");
    assert!(
        peak < idle + STREAMING_HEADROOM,
        "worker RSS peaked at {} MiB, idle was {} MiB: the upload was buffered for a slow upstream",
        peak >> 20,
        idle >> 20
    );
}

/// A forwarder to the upstream at `upstream_port` logging at debug level, where the receive
/// low-water mark tests look for the line a raised mark writes.
fn start_debug_forwarder(upstream_port: u16) -> (Pipy, u16, TempDir) {
    start_forwarder_with(
        &format!("127.0.0.1:{upstream_port}"),
        "{}",
        "{}",
        &["--log-level=debug"],
    )
}

/// An origin that answers one request with a body sent in `pieces`, framed by
/// `content-length` or, if `chunked`, as one chunk: each piece is written when its gate opens
/// (`None`: at once). Returns the origin's port and its thread.
fn paced_origin(
    chunked: bool,
    mut pieces: Vec<(Vec<u8>, Option<std::sync::mpsc::Receiver<()>>)>,
) -> (u16, thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let port = listener.local_addr().expect("origin address").port();
    let total: usize = pieces.iter().map(|(p, _)| p.len()).sum();
    let framing = if chunked {
        if let Some((first, _)) = pieces.first_mut() {
            first.splice(0..0, format!("{total:x}\r\n").into_bytes());
        }
        if let Some((last, _)) = pieces.last_mut() {
            last.extend_from_slice(b"\r\n0\r\n\r\n");
        }
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {total}")
    };
    let origin = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                s.read(&mut byte).expect("read request"),
                1,
                "request cut short"
            );
            head.push(byte[0]);
        }
        s.write_all(format!("HTTP/1.1 200 OK\r\n{framing}\r\n\r\n").as_bytes())
            .expect("write head");
        for (piece, gate) in pieces {
            if let Some(gate) = gate {
                // The test opens the gate, or gives up waiting after a while.
                let _ = gate.recv_timeout(Duration::from_secs(3));
            }
            s.write_all(&piece).expect("write body piece");
        }
    });
    (port, origin)
}

/// A large body is read with a receive low-water mark set to what its framing still promises
/// (net::recv_lowat). When the upstream slows down below the mark, what has arrived must still
/// reach the client promptly, not wait for the rest of the body.
#[test]
fn a_body_that_slows_down_mid_way_reaches_the_client_without_waiting_for_the_rest() {
    slowing_body_reaches_the_client_promptly(false);
}

/// The same within one large chunk of a chunked body.
#[test]
fn a_chunk_that_slows_down_mid_way_reaches_the_client_without_waiting_for_the_rest() {
    slowing_body_reaches_the_client_promptly(true);
}

fn slowing_body_reaches_the_client_promptly(chunked: bool) {
    use std::io::Read;
    let body = pattern_bytes(300 << 10, 7);
    let (first, rest) = body.split_at(200 << 10);
    let (middle, last) = rest.split_at(10 << 10);
    let (release_last, gate) = std::sync::mpsc::channel();
    let (port_o, origin) = paced_origin(
        chunked,
        vec![
            (first.to_vec(), None),
            (middle.to_vec(), None),
            (last.to_vec(), Some(gate)),
        ],
    );
    let (pipy, port, _dir) = start_debug_forwarder(port_o);
    let mut client = Conn::open(port);
    client.send(&get("/slowing"));
    let sent = Instant::now();
    let mut stream = client.try_clone_stream();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let wanted = first.len() + middle.len();
    // The head, then the body as the proxy streams it (chunked: it does not wait for the end).
    let body_start = loop {
        let n = stream.read(&mut buf).expect("response head");
        assert!(n > 0, "proxy closed the connection");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = find(&raw, b"\r\n\r\n") {
            break i + 4;
        }
    };
    while dechunk_so_far(&raw[body_start..]).len() < wanted {
        let n = stream.read(&mut buf).expect(
            "the first 210 KiB of the body did not arrive while the origin held the rest back",
        );
        assert!(n > 0, "proxy closed the connection");
        raw.extend_from_slice(&buf[..n]);
    }
    let waited = sent.elapsed();
    release_last.send(()).expect("origin waits for the gate");
    while !raw.ends_with(b"\r\n0\r\n\r\n") {
        let n = stream.read(&mut buf).expect("rest of the body");
        assert!(n > 0, "proxy closed the connection");
        raw.extend_from_slice(&buf[..n]);
    }
    assert_bytes_eq(&dechunk_so_far(&raw[body_start..]), &body);
    assert!(
        waited < Duration::from_secs(1),
        "210 KiB took {waited:?} to arrive"
    );
    // Without a mark there would be nothing for the backstop to undo: the test would pass
    // with the feature off.
    assert!(
        pipy.stderr_contains("bulk input, low-water mark", Duration::from_secs(2)),
        "no receive low-water mark was set for the body"
    );
    drop(client);
    drop(stream);
    origin.join().expect("origin thread");
}

/// Several large responses pipelined on one upstream session: each body is read with a
/// low-water mark no higher than what is left of it, so none waits on the next response.
#[test]
fn pipelined_large_responses_on_one_session_arrive_whole() {
    let body = Arc::new(pattern_bytes(700 << 10, 11));
    let blob = Backend::start(Service::Blob(body.clone()));
    let (pipy, port, _dir) = start_debug_forwarder(blob.port());
    let mut conn = Conn::open(port);
    let batch: Vec<u8> = (0..5).flat_map(|i| get(&format!("/big/{i}"))).collect();
    conn.send(&batch);
    for i in 0..5 {
        let response = conn.read_response();
        assert_eq!(response.status, 200, "response {i}");
        assert_eq!(
            digest(&response.body),
            digest(&body),
            "response {i} changed"
        );
    }
    assert_eq!(blob.connections(), 1, "one upstream session");
    assert!(
        pipy.stderr_contains("bulk input, low-water mark", Duration::from_secs(2)),
        "no receive low-water mark was set while 3.5 MiB came from the upstream"
    );
}

/// Request bodies arriving from a client get the same low-water mark (demuxHTTP is the first
/// filter of the connection's pipeline): when the client slows down, what it has sent must
/// still reach the upstream promptly. The client sends in steps and waits for each to arrive
/// upstream, so a mark raised by one step's read would hold the next step back for good
/// without the backstop.
#[test]
fn an_upload_that_slows_down_reaches_the_upstream_step_by_step() {
    use std::io::{Read, Write};
    let body = pattern_bytes(300 << 10, 9);
    let steps = [100 << 10, 64 << 10, 64 << 10, 10 << 10, 10 << 10, 52 << 10];
    assert_eq!(steps.iter().sum::<usize>(), body.len());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let port_o = listener.local_addr().expect("origin address").port();
    let received = Arc::new(AtomicU64::new(0));
    let seen = received.clone();
    // The origin reads the proxied request (framed by length or in chunks), publishes how much
    // of the body it has, and answers with a digest of it.
    let origin = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = s.read(&mut buf).expect("read upload");
            assert!(n > 0, "proxy closed the upstream connection mid-request");
            raw.extend_from_slice(&buf[..n]);
            let Some(head_end) = find(&raw, b"\r\n\r\n").map(|i| i + 4) else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
            let chunked = head.contains("transfer-encoding: chunked");
            let got = if chunked {
                dechunk_so_far(&raw[head_end..])
            } else {
                raw[head_end..].to_vec()
            };
            seen.store(got.len() as u64, Ordering::SeqCst);
            let complete = if chunked {
                raw.ends_with(b"\r\n0\r\n\r\n")
            } else {
                got.len() >= 300 << 10
            };
            if complete {
                let answer = format!("{} {:016x}", got.len(), digest(&got));
                s.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    )
                    .as_bytes(),
                )
                .expect("answer");
                return;
            }
        }
    });
    let (pipy, port, _dir) = start_debug_forwarder(port_o);
    let mut client = Conn::open(port);
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.send(head.as_bytes());
    let mut sent = 0;
    for (i, step) in steps.iter().enumerate() {
        client.send(&body[sent..sent + step]);
        sent += step;
        if sent == body.len() {
            break;
        }
        let started = Instant::now();
        assert!(
            poll_until(Duration::from_secs(2), || {
                received.load(Ordering::SeqCst) >= sent as u64
            }),
            "step {i}: {} of {sent} bytes reached the upstream in 2 s while the client paused",
            received.load(Ordering::SeqCst)
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "step {i} took {:?} to reach the upstream",
            started.elapsed()
        );
    }
    let response = client.read_response();
    origin.join().expect("origin thread");
    assert_eq!(
        response.text(),
        format!("{} {:016x}", body.len(), digest(&body)),
        "the upstream received other bytes"
    );
    // The upstream's answer is tiny: a mark can only have been set on the client's socket.
    assert!(
        pipy.stderr_contains("bulk input, low-water mark", Duration::from_secs(2)),
        "no receive low-water mark was set for the upload"
    );
}

/// Where a muxHTTP session's promise counts: only when the bytes it decodes are the bytes on the
/// wire, that is when `connect` ends the upstream pipeline. A filter before `connect` keeps that
/// true; a filter after it sits between the socket and the decoder, and then no mark is set.
#[test]
fn low_water_mark_applies_only_when_connect_ends_the_upstream_pipeline() {
    let body = Arc::new(pattern_bytes(700 << 10, 13));
    let blob = Backend::start(Service::Blob(body.clone()));
    for (upstream, marked) in [
        (".handleData(() => {}).connect(os.env.TARGET)", true),
        (".connect(os.env.TARGET).handleData(() => {})", false),
    ] {
        let target = format!("127.0.0.1:{}", blob.port());
        let (mut pipy, port, _dir) =
            start_forwarder_through(&target, "", upstream, &["--log-level=debug"]);
        let mut conn = Conn::open(port);
        conn.send(&get("/big"));
        let response = conn.read_response();
        assert_eq!(response.status, 200, "{upstream}");
        assert_eq!(
            digest(&response.body),
            digest(&body),
            "{upstream}: the body changed"
        );
        drop(conn);
        // Stopped and waited for, so that everything it logged has been read.
        pipy.terminate();
        pipy.wait_exit(Duration::from_secs(10));
        assert_eq!(
            pipy.stderr().contains("bulk input, low-water mark"),
            marked,
            "{upstream}: a mark should {}have been set",
            if marked { "" } else { "not " }
        );
    }
}

/// A worker out of descriptors cannot open the upstream connection a request needs: that
/// request gets a 502 at once, the failure is logged as a warning naming its cause, and the
/// requests it already serves are not disturbed.
#[test]
fn upstream_connect_out_of_descriptors_is_a_logged_502() {
    const FD_LIMIT: u64 = 48;
    let origin = Backend::start(Service::Hi);
    let dir = TempDir::new("connect-emfile");
    let main = dir.write(
        "proxy.js",
        "pipy()\n\
         .listen(+os.env.PORT).demuxHTTP('forward')\n\
         .pipeline('forward').muxHTTP('connection', () => __inbound.id)\n\
         .pipeline('connection').connect('127.0.0.1:' + os.env.UPSTREAM)\n",
    );
    let port = free_port();
    let upstream = origin.port().to_string();
    let pipy = Pipy::serve_with_fd_limit(
        &main,
        port,
        &[("UPSTREAM", &upstream)],
        (FD_LIMIT, FD_LIMIT),
    );
    let complete = |got: &[u8]| find(got, b"Hi, there!\n").is_some();
    let connect_failed = format!("connect to 127.0.0.1:{upstream} failed: Too many open files");
    // Each client holds two descriptors (its own and its session's upstream), so they run out
    // at an accept or at a connect, depending on how many the worker started with.
    let mut served = Vec::new();
    loop {
        assert!(
            served.len() < FD_LIMIT as usize,
            "never ran out:\n{}",
            pipy.stderr()
        );
        let (stream, got) = request_unless(port, &get("/"), complete, || {
            pipy.stderr().contains("Too many open files")
        });
        if complete(&got) {
            served.push(stream);
            continue;
        }
        if got.is_empty() {
            // The accept failed: one client leaving frees one descriptor (its session keeps
            // the upstream connection for `maxIdle`), so the retried accept takes this client
            // and then its connect fails.
            served.pop();
        }
        let (mut stream, mut got) = (stream, got);
        let response = loop {
            if let Some(end) = find(&got, b"\r\n\r\n") {
                break got[..end + 4].to_vec();
            }
            let mut chunk = [0u8; 1024];
            let n = std::io::Read::read(&mut stream, &mut chunk)
                .unwrap_or_else(|e| panic!("no answer ({e}):\n{}", pipy.stderr()));
            assert!(n > 0, "closed without an answer:\n{}", pipy.stderr());
            got.extend_from_slice(&chunk[..n]);
        };
        assert_bytes_eq(
            &response,
            b"HTTP/1.1 502 Connection Refused\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n",
        );
        break;
    }
    assert!(
        pipy.stderr_contains(&connect_failed, IO_TIMEOUT),
        "{}",
        pipy.stderr()
    );
    // The clients it holds are still served.
    let stream = served.last_mut().expect("a served client");
    std::io::Write::write_all(stream, &get("/")).expect("write");
    let mut again = Vec::new();
    let mut chunk = [0u8; 1024];
    while !complete(&again) {
        let n = std::io::Read::read(stream, &mut chunk).expect("read");
        assert!(n > 0, "closed:\n{}", pipy.stderr());
        again.extend_from_slice(&chunk[..n]);
    }
    assert!(again.starts_with(b"HTTP/1.1 200 OK\r\n"));
}
