//! Memory stays bounded while scripts run on every request: the objects a handler creates are
//! collected. (boa skips the reference-count decrement of handles dropped during its sweep; a
//! `Message` that held the last handle to its head object leaked that head, about 2 KiB per
//! request that read `msg.head`.)

mod common;

use common::*;

/// Requests per pipelined batch on the one keep-alive connection.
const BATCH: usize = 200;

fn run_batches(conn: &mut Conn, requests: usize) {
    let one = b"GET /api/users/42 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: memory-test\r\n\r\n";
    let batch: Vec<u8> = one.repeat(BATCH);
    for _ in 0..requests / BATCH {
        conn.send(&batch);
        for _ in 0..BATCH {
            let r = conn.read_response();
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), "example.com GET /api/users/42");
        }
    }
}

/// Leaking ~2 KiB per request grew the process by ~60 MiB over the measured requests; collected
/// garbage keeps the growth to the allocator's noise.
const ALLOWED_GROWTH_KIB: u64 = 8 * 1024;
const WARMUP: usize = 10_000;
const MEASURED: usize = 30_000;

/// Serves `script_text`, warms it up, and asserts the RSS stays flat over further requests.
fn assert_rss_flat(script_text: &str) {
    let (before, after) = rss_growth_over(script_text, WARMUP, MEASURED);
    assert!(
        after < before + ALLOWED_GROWTH_KIB,
        "RSS grew from {before} KiB to {after} KiB over {MEASURED} requests"
    );
}

fn rss_growth_over(script_text: &str, warmup: usize, measured: usize) -> (u64, u64) {
    let dir = TempDir::new("memory");
    let script = dir.write("handler.js", script_text);
    let port = free_port();
    let pipy = Pipy::serve(&script, port, &["--log-level=warn"]);
    let mut conn = Conn::open(port);
    // The warm-up lets the collector reach its steady state (its threshold and the garbage
    // waiting for the next collection) before the baseline is taken.
    run_batches(&mut conn, warmup);
    rss_before_and_after(&pipy, || run_batches(&mut conn, measured))
}

/// The RSS of `pipy`'s processes in KiB before and after `run`.
fn rss_before_and_after(pipy: &Pipy, run: impl FnOnce()) -> (u64, u64) {
    let before = group_rss_kib(pipy.pid());
    assert!(before > 0, "no RSS read for process group {}", pipy.pid());
    run();
    (before, group_rss_kib(pipy.pid()))
}

#[test]
fn head_objects_read_by_a_handler_are_collected() {
    assert_rss_flat(
        "pipy().listen(+os.env.PORT).serveHTTP(msg => new Message(
           { status: 200, headers: { 'x-path': msg.head.path } },
           msg.head.headers.host + ' ' + msg.head.method + ' ' + msg.head.path
         ))",
    );
}

#[test]
fn events_handed_to_callbacks_are_collected() {
    assert_rss_flat(
        "pipy({ _n: 0 })
         .listen(+os.env.PORT).demuxHTTP('request')
         .pipeline('request')
           .handleMessageStart(msg => { _n += msg.head.headers['user-agent'].length })
           .replaceMessage(msg => new Message(
             msg.head.headers.host + ' ' + msg.head.method + ' ' + msg.head.path
           ))",
    );
}

/// Sequential requests through one `muxHTTP` session, so that the session falls idle after
/// every response. Each idle spell used to arm a fresh idle timer that stayed in the worker's
/// timer heap until `maxIdle` ran out (~100 bytes each; ~3 MiB over these requests with the
/// hour-long `maxIdle` below); one pending timer per session keeps the heap flat.
#[test]
fn an_upstream_session_going_idle_per_request_keeps_memory_flat() {
    const WARMUP: usize = 2_000;
    const MEASURED: usize = 30_000;
    const ALLOWED_GROWTH_KIB: u64 = 1024;
    let dir = TempDir::new("memory-mux-idle");
    let script = dir.write(
        "proxy.js",
        "pipy()
         .listen(+os.env.PORT).demuxHTTP('forward')
         .pipeline('forward').muxHTTP('upstream', '', { maxIdle: 3600 })
         .pipeline('upstream').connect('127.0.0.1:' + (+os.env.PORT + 1))
         .listen(+os.env.PORT + 1).serveHTTP(new Message('hi'))",
    );
    let (port, origin_port) = free_port_pair();
    let mut pipy = Pipy::serve(&script, port, &["--log-level=warn"]);
    pipy.wait_port(origin_port);
    let mut conn = Conn::open(port);
    let one = get("/");
    let mut roundtrips = |n: usize| {
        for i in 0..n {
            let r = conn.roundtrip(&one);
            assert_eq!((r.status, r.text().as_str()), (200, "hi"), "request {i}");
        }
    };
    roundtrips(WARMUP);
    let (before, after) = rss_before_and_after(&pipy, || roundtrips(MEASURED));
    assert!(
        after < before + ALLOWED_GROWTH_KIB,
        "RSS grew from {before} KiB to {after} KiB over {MEASURED} sequential proxied requests"
    );
}
