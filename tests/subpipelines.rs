//! Acceptance, sub-pipeline filters: the `use` plugin chain with turn-down, `fork` with each init
//! form, `pack` (batch, timeout, last batch on close), `wait`, the throttles, `tee`, `read` and
//! `exec`. Each test writes its scripts into a temporary directory and starts the binary on a
//! free port passed as `PORT`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Writes `files` into a fresh directory and serves its `main.js`.
fn serve(tag: &str, files: &[(&str, &str)]) -> (TempDir, Pipy, u16) {
    serve_with(tag, files, &[])
}

/// [`serve`] with extra command-line arguments.
fn serve_with(tag: &str, files: &[(&str, &str)], args: &[&str]) -> (TempDir, Pipy, u16) {
    let dir = TempDir::new(tag);
    for (name, text) in files {
        dir.write(name, text);
    }
    let port = free_port();
    let pipy = Pipy::serve(&dir.path().join("main.js"), port, args);
    (dir, pipy, port)
}

fn post(path: &str, body: &str) -> Vec<u8> {
    request("POST", path, &[], body.as_bytes())
}

const PLUGIN_MAIN: &str = r#"
pipy()
.export('main', { __order: '', __turnDown: false })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .use(['a.js', 'b.js', 'skipped.js', 'c.js'], 'req', 'res', () => __turnDown)
  .replaceMessage(() => new Message(__order.trim()))
"#;

fn plugin(name: &str) -> String {
    let turn = if name == "B" {
        ".handleMessageStart(msg => { if (msg.head.path === '/turn') __turnDown = true })"
    } else {
        ""
    };
    format!(
        r#"
pipy()
.import({{ __order: 'main', __turnDown: 'main' }})
.pipeline('req')
  .handleMessageStart(() => __order += '{name}.req ')
  {turn}
.pipeline('res')
  .handleMessageStart(() => __order += '{name}.res ')
"#
    )
}

#[test]
fn use_chain_runs_stages_in_order_and_turns_down() {
    let (a, b, c) = (plugin("A"), plugin("B"), plugin("C"));
    let (_dir, _pipy, port) = serve(
        "use",
        &[
            ("main.js", PLUGIN_MAIN),
            ("a.js", &a),
            ("b.js", &b),
            ("c.js", &c),
            ("skipped.js", "pipy().pipeline('other')"),
        ],
    );
    let mut conn = Conn::open(port);
    assert_eq!(
        conn.roundtrip(&get("/")).text(),
        "A.req B.req C.req C.res B.res A.res"
    );
    assert_eq!(
        conn.roundtrip(&get("/turn")).text(),
        "A.req B.req B.res A.res"
    );
    // Each request starts from the connection's values again.
    assert_eq!(
        conn.roundtrip(&get("/again")).text(),
        "A.req B.req C.req C.res B.res A.res"
    );
}

/// What `use_chain_runs_stages_in_order_and_turns_down` checks, with stages of `pad` more
/// filters each. Each plugin's stages also count the filters they pass through.
fn padded_plugin_chain(tag: &str, pad: usize) -> (TempDir, Pipy, u16) {
    let main = r#"
pipy()
.export('main', { __order: '', __turnDown: false, __count: 0 })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .use(['a.js', 'b.js', 'c.js'], 'req', 'res', () => __turnDown)
  .replaceMessage(() => new Message(`${__count} ${__order.trim()}`))
"#;
    let count = ".handleMessageStart(() => __count++)".repeat(pad);
    let plugins: Vec<String> = ["A", "B", "C"]
        .iter()
        .map(|name| {
            let turn = if *name == "B" {
                ".handleMessageStart(msg => { if (msg.head.path === '/turn') __turnDown = true })"
            } else {
                ""
            };
            format!(
                r#"
pipy()
.import({{ __order: 'main', __turnDown: 'main', __count: 'main' }})
.pipeline('req')
  .handleMessageStart(() => __order += '{name}.req ')
  {count}
  {turn}
.pipeline('res')
  .handleMessageStart(() => __order += '{name}.res ')
  {count}
"#
            )
        })
        .collect();
    serve_with(
        tag,
        &[
            ("main.js", main),
            ("a.js", &plugins[0]),
            ("b.js", &plugins[1]),
            ("c.js", &plugins[2]),
        ],
        &["--log-level=debug"],
    )
}

/// A chain whose stages hold more filters than one instance may inline
/// (`engine::plan::MAX_PLANNED_FILTERS`, 64) runs as an instance per stage: the same answers
/// as a chain short enough to run inline.
#[test]
fn use_chain_too_long_to_inline_runs_as_one_that_is_inlined() {
    for (tag, pad, how) in [
        // 3 gates + 3 × (1 + 2) up + 3 × (1 + 2) down + B's turn-down filter.
        ("use-inline", 2, "use runs inline, as 22 filters"),
        ("use-instances", 12, "use runs its pipelines as instances"),
    ] {
        let (_dir, pipy, port) = padded_plugin_chain(tag, pad);
        assert!(
            pipy.stderr_contains(&format!("pipeline req: {how}"), Duration::from_secs(5)),
            "{tag}: {}",
            pipy.stderr()
        );
        let mut conn = Conn::open(port);
        assert_eq!(
            conn.roundtrip(&get("/")).text(),
            format!("{} A.req B.req C.req C.res B.res A.res", 6 * pad),
            "{tag}"
        );
        assert_eq!(
            conn.roundtrip(&get("/turn")).text(),
            format!("{} A.req B.req B.res A.res", 4 * pad),
            "{tag}"
        );
        assert_eq!(
            conn.roundtrip(&get("/again")).text(),
            format!("{} A.req B.req C.req C.res B.res A.res", 6 * pad),
            "{tag}"
        );
    }
}

/// A turn-down predicate that throws ends that request's stream with a script error: a 500
/// answer, the error logged with its file and line, and the connection's next request served
/// by the chain as before.
#[test]
fn use_chain_predicate_that_throws_answers_500_and_the_connection_goes_on() {
    let main = r#"
pipy()
.export('main', { __order: '', __boom: false })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .use(['a.js', 'b.js'], 'req', 'res', () => __boom ? undefined.x : false)
  .replaceMessage(() => new Message(__order.trim()))
"#;
    let plugin = |name: &str| {
        format!(
            r#"
pipy()
.import({{ __order: 'main', __boom: 'main' }})
.pipeline('req')
  .handleMessageStart(msg => {{ __order += '{name}.req '; if (msg.head.path === '/throw') __boom = true }})
.pipeline('res')
  .handleMessageStart(() => __order += '{name}.res ')
"#
        )
    };
    let (a, b) = (plugin("A"), plugin("B"));
    let (_dir, pipy, port) = serve(
        "use-throw",
        &[("main.js", main), ("a.js", &a), ("b.js", &b)],
    );
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/")).text(), "A.req B.req B.res A.res");
    // A's stage sets the flag; the gate before B's stage throws.
    let failed = conn.roundtrip(&get("/throw"));
    assert_eq!((failed.status, failed.text().as_str()), (500, ""));
    assert!(
        pipy.stderr_contains("main.js:7:", Duration::from_secs(5)),
        "{}",
        pipy.stderr()
    );
    assert_eq!(
        conn.roundtrip(&get("/again")).text(),
        "A.req B.req B.res A.res"
    );
}

/// `link` asks its conditions again on each event until one holds, holding the events until
/// then, and sends them through the chosen pipeline in order; a `''` route passes the stream
/// through; a condition that throws ends the stream.
#[test]
fn link_holds_events_until_a_condition_holds_bypasses_and_fails() {
    let main = r#"
pipy({ _n: 0 })
.listen(+os.env.PORT)
  .handleData(d => _n += d.size)
  .link('never', () => false, 'upper', () => _n >= 6, 'never', () => _n >= 6)
.pipeline('upper')
  .replaceData(d => new Data(d.toString().toUpperCase()))
.pipeline('never')
  .replaceData(() => new Data('wrong route'))
"#;
    let (_dir, _pipy, port) = serve("link-hold", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    conn.send(b"abc");
    conn.expect_silence(Duration::from_millis(150));
    conn.send(b"def");
    assert_eq!(conn.read_exact_bytes(6), b"ABCDEF");
    conn.send(b"g");
    assert_eq!(conn.read_exact_bytes(1), b"G");

    let main = r#"
pipy({ _n: 0 })
.listen(+os.env.PORT)
  .link('never', () => _n > 0, '')
.pipeline('never')
  .replaceData(() => new Data('wrong route'))
"#;
    let (_dir, _pipy, port) = serve("link-bypass", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    conn.send(b"as it is");
    assert_eq!(conn.read_exact_bytes(8), b"as it is");

    let main = r#"
pipy()
.listen(+os.env.PORT)
  .link('never', () => undefined.x)
.pipeline('never')
  .replaceData(() => new Data('wrong route'))
"#;
    let (_dir, pipy, port) = serve("link-throw", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    conn.send(b"x");
    conn.expect_closed();
    assert!(
        pipy.stderr_contains("main.js:4:", Duration::from_secs(5)),
        "{}",
        pipy.stderr()
    );
}

/// Instances of a layout reuse the filters of destroyed ones (`FilterFactory::recycle`): each
/// request must still see them as new. A `handleStreamStart` that kept its "started" flag would
/// not count the next stream; a `link` that kept its choice, or a `use` its stage routes, would
/// send the next request to the previous request's (destroyed) sub-pipelines.
#[test]
fn recycled_filters_start_each_stream_afresh() {
    let main = r#"
var streams = 0
pipy({ _path: '' })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .handleStreamStart(() => { streams++ })
  .handleMessageStart(msg => _path = msg.head.path)
  .use(['tag.js'], 'tag')
  .link('a', () => _path === '/a', 'b')
.pipeline('a')
  .replaceMessage(msg => new Message(`a ${streams} ${msg.head.headers['x-tag']}`))
.pipeline('b')
  .replaceMessage(msg => new Message(`b ${streams} ${msg.head.headers['x-tag']}`))
"#;
    let tag = "pipy().pipeline('tag').handleMessageStart(msg => msg.head.headers['x-tag'] = msg.head.path)";
    let (_dir, _pipy, port) = serve("recycle", &[("main.js", main), ("tag.js", tag)]);
    let mut first = Conn::open(port);
    let mut second = Conn::open(port);
    let mut want = Vec::new();
    let mut got = Vec::new();
    for (i, path) in ["/a", "/b", "/b", "/a", "/a", "/b"].iter().enumerate() {
        let conn = if i % 2 == 0 { &mut first } else { &mut second };
        got.push(conn.roundtrip(&get(path)).text());
        want.push(format!("{} {} {path}", &path[1..], i + 1));
    }
    assert_eq!(got, want);
}

#[test]
fn use_single_module_form() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .use('lib/hello.js', 'hello')
"#;
    let lib = "pipy().pipeline('hello').replaceMessage(() => new Message('from module'))";
    let (_dir, _pipy, port) = serve("use1", &[("main.js", main), ("lib/hello.js", lib)]);
    assert_eq!(http_get(port, "/").text(), "from module");
}

#[test]
fn fork_with_each_init_form() {
    let main = r#"
pipy({ _n: 0, _log: null, _mark: '', _cloned: '' })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .handleMessageStart(() => _log = [])
  .fork('f-none')
  .fork('f-obj', { _n: 10 })
  .fork('f-arr', [{ _n: 20 }, { _n: 30 }])
  .fork('f-fn', () => [{ _n: 40 }, { _n: 50 }, { _n: 60 }])
  .wait(() => _log.length >= 7, { timeout: 5 })
  .replaceMessage(
    msg => new Message(
      msg.body.toString() + '|' + _log.sort().join(',') + '|' + _mark + '|' + _cloned
    )
  )
.pipeline('f-none')
  .handleMessageStart(() => { _log.push('none:' + _n); _mark = 'shared' })
  .replaceMessage(() => new Message('discarded'))
.pipeline('f-obj')
  .handleMessageStart(() => { _log.push('obj:' + _n); _cloned = 'leaked' })
.pipeline('f-arr')
  .handleMessageStart(() => _log.push('arr:' + _n))
.pipeline('f-fn')
  .handleMessageStart(() => _log.push('fn:' + _n))
"#;
    let (_dir, _pipy, port) = serve("fork", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    let r = conn.roundtrip(&post("/", "body"));
    assert_eq!(
        r.text(),
        "body|arr:20,arr:30,fn:40,fn:50,fn:60,none:0,obj:10|shared|",
        "{r:?}"
    );
}

#[test]
fn pack_batches_flushes_on_timeout_and_delivers_last_batch_on_close() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .decodeHTTPRequest()
  .pack(3, { timeout: 0.4 })
  .replaceMessage(msg => new Message('[' + msg.body.toString() + ']'))
  .encodeHTTPResponse()
"#;
    let (_dir, _pipy, port) = serve("pack", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    for b in ["a", "b", "c", "d"] {
        conn.send(&post("/", b));
    }
    assert_eq!(conn.read_response().text(), "[abc]");
    // "d" waits for the timeout, which must fire.
    let t0 = Instant::now();
    assert_eq!(conn.read_response().text(), "[d]");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "timeout flush after {waited:?}"
    );
    // A partial batch is delivered when the client closes its side.
    conn.send(&post("/", "e"));
    conn.send(&post("/", "f"));
    conn.shutdown_write();
    assert_eq!(conn.read_response().text(), "[ef]");
}

#[test]
fn pack_interval_flushes_when_due() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .decodeHTTPRequest()
  .pack(1000, { interval: 0.3 })
  .replaceMessage(msg => new Message('[' + msg.body.toString() + ']'))
  .encodeHTTPResponse()
"#;
    let (_dir, _pipy, port) = serve("pack-iv", &[("main.js", main)]);
    let mut conn = Conn::open(port);
    conn.send(&post("/", "a"));
    conn.send(&post("/", "b"));
    conn.expect_silence(Duration::from_millis(150));
    thread::sleep(Duration::from_millis(250));
    conn.send(&post("/", "c"));
    assert_eq!(conn.read_response().text(), "[abc]");
}

const WAIT_MAIN: &str = r#"
pipy({ _flag: { on: false }, _path: '' })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .handleMessageStart(msg => _path = msg.head.path)
  .link('set', () => _path === '/set', 'timeout', () => _path === '/timeout', 'wait')
.pipeline('set')
  .handleMessageStart(() => _flag.on = true)
  .replaceMessage(() => new Message('set'))
.pipeline('wait')
  .wait(() => _flag.on)
  .replaceMessage(() => new Message('released'))
.pipeline('timeout')
  .wait(() => false, { timeout: 0.3 })
  .replaceMessage(() => new Message('timed out'))
"#;

#[test]
fn wait_holds_until_condition_or_timeout() {
    let (_dir, _pipy, port) = serve("wait", &[("main.js", WAIT_MAIN)]);
    let mut waiting = Conn::open(port);
    waiting.send(&get("/wait"));
    waiting.expect_silence(Duration::from_millis(300));
    assert_eq!(http_get(port, "/set").text(), "set");
    let t0 = Instant::now();
    assert_eq!(waiting.read_response().text(), "released");
    assert!(t0.elapsed() < Duration::from_secs(1));

    let t0 = Instant::now();
    assert_eq!(http_get(port, "/timeout").text(), "timed out");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

/// Requests answered within `window` by `clients` connections sending one request after another;
/// returns (answered in the window, answered in all).
fn hammer(port: u16, clients: usize, window: Duration) -> (usize, usize) {
    let in_window = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (in_window, total, stop) = (in_window.clone(), total.clone(), stop.clone());
            thread::spawn(move || {
                let mut conn = Conn::open(port);
                while !stop.load(Ordering::SeqCst) {
                    let r = conn.roundtrip(&get("/"));
                    assert_eq!(r.status, 200, "{r:?}");
                    if start.elapsed() <= window {
                        in_window.fetch_add(1, Ordering::SeqCst);
                    }
                    total.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    thread::sleep(window);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join()
            .expect("client thread: every request must be answered");
    }
    (
        in_window.load(Ordering::SeqCst),
        total.load(Ordering::SeqCst),
    )
}

#[test]
fn throttle_message_rate_delays_to_quota() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .throttleMessageRate(10)
  .replaceMessage(() => new Message('ok'))
"#;
    let (_dir, _pipy, port) = serve("throttle", &[("main.js", main)]);
    let (served, total) = hammer(port, 4, Duration::from_secs(3));
    eprintln!("served {served} of {total}");
    assert!(
        (24..=36).contains(&served),
        "served {served} in 3 s at 10/s"
    );
}

#[test]
fn throttle_data_rate_delays_bytes() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .throttleDataRate('1k')
"#;
    let (_dir, _pipy, port) = serve("throttle-data", &[("main.js", main)]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let payload = vec![b'x'; 2048];
    s.write_all(&payload).expect("write");
    let t0 = Instant::now();
    let mut got = vec![0u8; payload.len()];
    s.read_exact(&mut got).expect("echo");
    let took = t0.elapsed();
    assert_eq!(got, payload);
    // 2 KiB at 1 KiB/s: about 2 s (the first tenth is available at once).
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn throttle_concurrency_serializes_streams() {
    let main = r#"
pipy({ _g: { active: 0, max: 0 }, _until: 0 })
.listen(+os.env.PORT)
  .demuxHTTP('req')
.pipeline('req')
  .throttleConcurrency(1)
  .handleMessageStart(() => {
    _g.active++;
    _g.max = Math.max(_g.max, _g.active);
    _until = Date.now() + 200;
  })
  .wait(() => Date.now() >= _until)
  .handleMessageEnd(() => _g.active--)
  .replaceMessage(() => new Message('max=' + _g.max))
"#;
    let (_dir, _pipy, port) = serve("concurrency", &[("main.js", main)]);
    let t0 = Instant::now();
    let clients: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || http_get(port, "/").text()))
        .collect();
    for c in clients {
        assert_eq!(c.join().expect("client"), "max=1");
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(550),
        "three 200 ms streams one at a time: {took:?}"
    );
}

#[test]
fn tee_writes_stream_data_and_read_feeds_a_file() {
    let dir = TempDir::new("tee");
    let out = dir.path().join("out.txt");
    let copy = dir.path().join("copy.txt");
    dir.write("input.txt", "from read()\n");
    dir.write("out.txt", "old contents that must be truncated");
    let main = format!(
        r#"
pipy()
.listen(+os.env.PORT)
  .tee('{}')
.read('input.txt')
  .tee(() => '{}')
"#,
        out.display(),
        copy.display()
    );
    dir.write("main.js", &main);
    let port = free_port();
    let _pipy = Pipy::serve(&dir.path().join("main.js"), port, &[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.write_all(b"hello tee\n").expect("write");
    let mut echo = [0u8; 10];
    s.read_exact(&mut echo).expect("echo");
    assert_eq!(&echo, b"hello tee\n");
    assert!(poll_until(IO_TIMEOUT, || {
        std::fs::read_to_string(&out).is_ok_and(|t| t == "hello tee\n")
    }));
    assert!(poll_until(IO_TIMEOUT, || {
        std::fs::read_to_string(&copy).is_ok_and(|t| t == "from read()\n")
    }));
}

#[test]
fn exec_pipes_the_stream_through_a_process() {
    let main = r#"
pipy()
.listen(+os.env.PORT)
  .exec('cat')
.listen(+os.env.PORT + 1)
  .exec(() => ['sh', '-c', 'tr a-z A-Z'])
"#;
    let dir = TempDir::new("exec");
    dir.write("main.js", main);
    let (port, _) = free_port_pair();
    let mut pipy = Pipy::serve(&dir.path().join("main.js"), port, &[]);
    pipy.wait_port(port + 1);

    let mut conn = Conn::open(port);
    conn.send(b"ping\n");
    assert_eq!(conn.read_exact_bytes(5), b"ping\n");
    conn.send(b"pong\n");
    conn.shutdown_write();
    // cat exits on EOF; its exit ends the stream and the connection closes.
    assert_eq!(conn.read_to_close(), b"pong\n");

    let mut upper = Conn::open(port + 1);
    upper.send(b"shout\n");
    upper.shutdown_write();
    assert_eq!(upper.read_to_close(), b"SHOUT\n");
}
