//! serveHTTP callbacks evaluated natively (src/js/pure): the same bytes as the engine's, and
//! the engine again once a script changes what the native form relies on.

mod common;

use common::*;
use std::time::Duration;

fn body(text: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

#[test]
fn a_pure_callback_answers_like_the_engine_and_follows_script_changes() {
    exchange(
        &[],
        "pure_reply.js:9:11: serveHTTP callback runs natively",
        0,
    );
}

#[test]
fn with_no_native_callbacks_the_engine_gives_the_same_answers() {
    exchange(
        &["--no-native-callbacks"],
        "pure_reply.js:9:11: serveHTTP callback runs in the engine: it is not compiled (--no-native-callbacks)",
        2,
    );
}

/// Closes `conn` and waits for the worker's debug line about it, which counts the script calls the
/// worker has made so far.
fn close_expecting_js_calls(pipy: &mut Pipy, conn: Conn, js_calls: u32) {
    let closed = format!("from {} closed, js-calls={js_calls}\n", conn.local_addr());
    drop(conn);
    assert!(
        pipy.stderr_contains(&closed, Duration::from_secs(5)),
        "expected {closed:?} in {}",
        pipy.stderr()
    );
}

/// Serves test script `name` with debug logging (plus `args`) on PORT and PORT2, whose
/// engine-run callback changes what the callbacks on PORT read; returns once both accept.
fn serve_two_ports(name: &str, args: &[&str]) -> (Pipy, u16, u16) {
    let port = free_port();
    let port2 = free_port();
    let port2_text = port2.to_string();
    let mut all_args = vec!["--log-level=debug"];
    all_args.extend_from_slice(args);
    let mut pipy = Pipy::serve_with(
        &script(name),
        port,
        &all_args,
        &[("PORT2", port2_text.as_str())],
    );
    pipy.wait_port(port2);
    (pipy, port, port2)
}

/// The same conversation with either form of the first port's callback. The first connection
/// makes two requests; the worker's debug log then counts the script calls it has made so far
/// (`engine_calls`: none when the callback runs natively).
fn exchange(args: &[&str], log_line: &str, engine_calls: u32) {
    let (mut pipy, port, port2) = serve_two_ports("pure_reply.js", args);
    assert!(
        pipy.stderr_contains(log_line, Duration::from_secs(5)),
        "{}",
        pipy.stderr()
    );
    assert!(
        pipy.stderr_contains(
            "pure_reply.js:17:11: serveHTTP callback runs in the engine: it ",
            Duration::from_secs(5)
        ),
        "{}",
        pipy.stderr()
    );

    let mut first = Conn::open(port);
    for _ in 0..2 {
        assert_bytes_eq(
            &first.roundtrip(&get("/hello")).raw,
            &body("hi hello: GET /hello 127.0.0.1\n"),
        );
    }
    drop(first);
    let closed = format!("closed, js-calls={engine_calls}\n");
    assert!(
        pipy.stderr_contains(&closed, Duration::from_secs(5)),
        "expected {closed:?} in {}",
        pipy.stderr()
    );

    let mut conn = Conn::open(port);
    let mut other = Conn::open(port2);
    let mut change = |path: &str| {
        let r = other.roundtrip(&get(path));
        assert_eq!(r.text(), format!("changed {path}"));
    };
    let mut ask = |request: &[u8], expected: &str| {
        assert_bytes_eq(&conn.roundtrip(request).raw, &body(expected));
    };
    ask(
        &get("/api/users/42"),
        "hi api: GET /api/users/42 127.0.0.1\n",
    );
    ask(
        b"POST /x?q=1 HTTP/1.1\r\nHost: WWW.Example.com\r\ncontent-length: 2\r\n\r\nab",
        "hi sub: POST /x?q=1 WWW.Example.com\n",
    );
    // A new primitive in the global is read per request.
    change("/greeting");
    ask(&get("/hello"), "hello hello: GET /hello 127.0.0.1\n");
    // A header the request lacks: the engine looks it up on Object.prototype.
    change("/prototype");
    ask(
        b"GET /p HTTP/1.1\r\n\r\n",
        "hello default: GET /p inherited\n",
    );
    // The built-in find replaced on the prototype (it was seen there under every epoch so
    // far), then the router object given its own.
    change("/proto-find");
    ask(&get("/hello"), "hello proto find: GET /hello 127.0.0.1\n");
    change("/own-find");
    ask(&get("/hello"), "hello own find: GET /hello 127.0.0.1\n");
    // An object needs its toString.
    change("/object");
    ask(&get("/hello"), "an object own find: GET /hello 127.0.0.1\n");
    // Another router object, with its own find.
    change("/router");
    ask(
        &get("/hello"),
        "an object not a router: GET /hello 127.0.0.1\n",
    );
    assert!(pipy.try_exit().is_none(), "{}", pipy.stderr());
}

/// What a native reply checks of the realm (the global `Message`, its `head` getter, head fields
/// inherited from `Object.prototype`) is checked once per script epoch: a change the engine makes
/// is seen by the very next request, and once it is undone the replies are native again.
#[test]
fn a_pure_callback_checks_the_realm_again_after_the_engine_ran() {
    let (mut pipy, port, port2) = serve_two_ports("pure_reply_realm.js", &[]);
    assert!(
        pipy.stderr_contains(
            "pure_reply_realm.js:10:11: serveHTTP callback runs natively",
            Duration::from_secs(5)
        ),
        "{}",
        pipy.stderr()
    );
    let mut other = Conn::open(port2);
    let mut change = |path: &str| {
        assert_eq!(
            other.roundtrip(&get(path)).text(),
            format!("changed {path}")
        );
    };
    let mut conn = Conn::open(port);
    let mut ask = |expected: &[u8]| assert_bytes_eq(&conn.roundtrip(&get("/a")).raw, expected);
    let native = body("GET /a\n");
    ask(&native);
    change("/message");
    ask(&body("wrapped GET /a\n"));
    change("/restore");
    ask(&native);
    change("/head");
    ask(&body("GOT /a\n"));
    change("/restore");
    ask(&native);
    change("/status-text");
    ask(b"HTTP/1.1 200 Inherited\r\ncontent-type: text/plain\r\ncontent-length: 7\r\nconnection: keep-alive\r\n\r\nGET /a\n");
    change("/restore");
    ask(&native);
    // Six changes and the three replies they sent to the engine: the others were native.
    close_expecting_js_calls(&mut pipy, conn, 9);
    assert!(pipy.try_exit().is_none(), "{}", pipy.stderr());
}

/// A native reply reads `__inbound` of the connection it answers, however the requests of two
/// connections interleave.
#[test]
fn a_pure_callback_reads_the_connection_it_answers() {
    let port = free_port();
    let mut pipy = Pipy::serve(&script("inbound_reply.js"), port, &["--log-level=debug"]);
    assert!(
        pipy.stderr_contains(
            "inbound_reply.js:6:11: serveHTTP callback runs natively",
            Duration::from_secs(5)
        ),
        "{}",
        pipy.stderr()
    );
    let mut a = Conn::open(port);
    let mut b = Conn::open(port);
    for i in 0..3 {
        for conn in [&mut a, &mut b] {
            let path = format!("/{i}");
            let expected = format!("{} {path}", conn.local_addr());
            assert_eq!(conn.roundtrip(&get(&path)).text(), expected);
        }
    }
    // The engine gives the same bytes: the worker's script-call count, logged when each
    // connection closes, shows that none of the six replies called it.
    let closed: Vec<String> = [&a, &b]
        .iter()
        .map(|c| format!("from {} closed, js-calls=0\n", c.local_addr()))
        .collect();
    drop((a, b));
    for line in &closed {
        assert!(
            pipy.stderr_contains(line, Duration::from_secs(5)),
            "expected {line:?} in {}",
            pipy.stderr()
        );
    }
    assert!(pipy.try_exit().is_none(), "{}", pipy.stderr());
}

/// Compiled filter callbacks remember what they read of script objects for as long as no script
/// code runs (src/js/pure/memo.rs); a change made by a callback the engine runs is seen by the
/// very next request, and the requests in between call no script code.
#[test]
fn compiled_filter_callbacks_see_what_the_engine_changed_on_the_next_request() {
    let (mut pipy, port, port2) = serve_two_ports("compiled_filters_follow_changes.js", &[]);
    // The handleMessageStart callback, and link's conditions (which share one location).
    for location in ["13:20", "16:6"] {
        let line = format!("compiled_filters_follow_changes.js:{location}: callback runs natively");
        assert!(
            pipy.stderr_contains(&line, Duration::from_secs(5)),
            "expected {line:?} in {}",
            pipy.stderr()
        );
    }
    let mut other = Conn::open(port2);
    // Each phase asks twice on a connection of its own; closing it logs how many script calls
    // the worker has made so far: only PORT2's, until `Boolean` is replaced and the link
    // condition that calls it goes to the engine (once per request).
    for (change, expected, js_calls) in [
        (None, "one", 0),
        (Some("/two"), "two", 1),
        (Some("/three"), "truthy", 2),
        (Some("/boolean"), "none", 3 + 2),
        (Some("/remove"), "none", 4 + 2 + 2),
    ] {
        if let Some(path) = change {
            assert_eq!(
                other.roundtrip(&get(path)).text(),
                format!("changed {path}")
            );
        }
        let mut conn = Conn::open(port);
        for _ in 0..2 {
            assert_eq!(
                conn.roundtrip(&get("/a")).text(),
                expected,
                "after {change:?}"
            );
        }
        close_expecting_js_calls(&mut pipy, conn, js_calls);
    }
    assert!(pipy.try_exit().is_none(), "{}", pipy.stderr());
}
