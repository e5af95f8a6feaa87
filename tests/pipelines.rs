//! Acceptance, pipelines: demuxHTTP + sub-pipelines behave like serveHTTP, link conditions,
//! export/import across two files, and the basic behaviour of the handle*/replace* filters,
//! the HTTP codec filters, dump/print/dummy and the JS runtime builtins.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn demux_with_static_replace_message_answers_like_serve_http() {
    let (_pipy, port) = Pipy::serve_script("demux-hello.js");
    let mut conn = Conn::open(port);
    for path in ["/", "/x", "/y"] {
        assert_bytes_eq(&conn.roundtrip(&get(path)).raw, HELLO_RESPONSE);
    }
    assert_bytes_eq(
        &conn.roundtrip(&request("POST", "/", &[], b"body")).raw,
        HELLO_RESPONSE,
    );
}

#[test]
fn demux_callback_reply_and_cloned_context_per_request() {
    let (_pipy, port) = Pipy::serve_script("demux-reply.js");
    let mut conn = Conn::open(port);
    let first = conn.roundtrip(&request("POST", "/one", &[], b"abc"));
    assert_bytes_eq(
        &first.raw,
        b"HTTP/1.1 201 Created\r\nx-a: b\r\ncontent-length: 15\r\nconnection: keep-alive\r\n\r\n1 POST /one abc",
    );
    // Each request's context is cloned from the connection's, so the count starts over.
    let second = conn.roundtrip(&request("PUT", "/two", &[], b"de"));
    assert_eq!(second.text(), "1 PUT /two de");
}

#[test]
fn demux_pipelined_requests_are_answered_in_order() {
    let (_pipy, port) = Pipy::serve_script("demux-reply.js");
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend_from_slice(&request(
            "POST",
            &format!("/r{i}"),
            &[],
            format!("b{i}").as_bytes(),
        ));
    }
    conn.send(&batch);
    for i in 0..20 {
        assert_eq!(conn.read_response().text(), format!("1 POST /r{i} b{i}"));
    }
}

#[test]
fn demux_keep_alive_rules_match_serve_http() {
    let (_pipy, port) = Pipy::serve_script("demux-hello.js");
    let mut old = Conn::open(port);
    old.send(b"GET / HTTP/1.0\r\n\r\n");
    let response = old.read_response();
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    old.expect_closed();

    let mut closing = Conn::open(port);
    let response = closing.roundtrip(&request("GET", "/", &[("Connection", "close")], b""));
    assert_bytes_eq(
        &response.raw,
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nHi, there!\n",
    );
    closing.expect_closed();
}

#[test]
fn demux_head_and_chunked_upload() {
    let (_pipy, port) = Pipy::serve_script("demux-reply.js");
    let mut conn = Conn::open(port);
    conn.send(&request("HEAD", "/h", &[], b""));
    let head = conn.read_response_for(BodyRule::HeadRequest);
    assert_eq!(head.status, 201);
    conn.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    conn.send(&chunked(b"chunked body", &[1, 4]));
    assert_eq!(conn.read_response().text(), "1 POST /c chunked body");
}

#[test]
fn link_conditions_pick_the_sub_pipeline() {
    let (_pipy, port) = Pipy::serve_script("link.js");
    let mut conn = Conn::open(port);

    let a = conn.roundtrip(&get("/a"));
    assert_eq!((a.status, a.text().as_str()), (200, "from a picked=a"));

    let b = conn.roundtrip(&get("/b/x"));
    assert_eq!((b.status, b.text().as_str()), (202, "from b /b/x picked=b"));

    let other = conn.roundtrip(&get("/zzz"));
    assert_eq!(
        (other.status, other.text().as_str()),
        (404, "other picked=other")
    );

    let bypass = conn.roundtrip(&get("/bypass"));
    assert_eq!(
        (bypass.status, bypass.text().as_str()),
        (200, "bypassed GET /bypass picked=none")
    );

    // Conditions are evaluated per request, not once per connection.
    let again = conn.roundtrip(&get("/a"));
    assert_eq!(again.text(), "from a picked=a");
}

#[test]
fn export_import_across_two_files_share_per_request_values() {
    let (_pipy, port) = Pipy::serve_script("import-main.js");
    let mut conn = Conn::open(port);
    assert_eq!(
        conn.roundtrip(&get("/first")).text(),
        "mod sees /first+mod|main sees /first+mod"
    );
    // A second request starts from the connection's value, not the first request's.
    assert_eq!(
        conn.roundtrip(&get("/second")).text(),
        "mod sees /second+mod|main sees /second+mod"
    );
    assert_eq!(
        http_get(port, "/third").text(),
        "mod sees /third+mod|main sees /third+mod"
    );
}

/// Splits a handlers.js trace into its entries.
fn trace_entries(text: &str) -> Vec<String> {
    text.split(';').map(str::to_string).collect()
}

#[test]
fn handle_filters_see_each_event_kind() {
    let (_pipy, port) = Pipy::serve_script("handlers.js");
    let mut conn = Conn::open(port);
    let body = b"hello handlers";
    let text = conn.roundtrip(&request("POST", "/h", &[], body)).text();
    let entries = trace_entries(&text);
    assert_eq!(
        entries.first().map(String::as_str),
        Some("stream-start:true"),
        "trace {text:?}"
    );
    assert_eq!(
        entries.get(1).map(String::as_str),
        Some("message-start:POST /h"),
        "trace {text:?}"
    );
    let data_total: usize = entries
        .iter()
        .filter_map(|e| e.strip_prefix("data:"))
        .map(|n| {
            n.parse::<usize>()
                .unwrap_or_else(|_| panic!("bad data entry in {text:?}"))
        })
        .sum();
    assert_eq!(
        data_total,
        body.len(),
        "handleData sizes must add up to the body: {text:?}"
    );
    let tail: Vec<&str> = entries
        .iter()
        .skip_while(|e| !e.starts_with("body:"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        vec![
            "body:hello handlers",
            "message-end",
            "message:/h:hello handlers",
            "limited:14"
        ],
        "trace {text:?}"
    );
}

#[test]
fn handle_message_size_limit_truncates_the_body() {
    let (_pipy, port) = Pipy::serve_script("handlers.js");
    let body = vec![b'z'; 3000];
    let text = Conn::open(port)
        .roundtrip(&request("POST", "/big", &[], &body))
        .text();
    assert!(
        text.ends_with("limited:1024"),
        "handleMessage('1k', ...) should see 1024 bytes: {text:?}"
    );
}

#[test]
fn replace_filters_rewrite_head_data_body_and_end() {
    let (_pipy, port) = Pipy::serve_script("replacers.js");
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/p", &[], b"banana"));
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "POST /rewritten/p BBNBNB");
}

#[test]
fn replace_stream_start_data_and_stream_end_on_raw_tcp() {
    let (_pipy, port) = Pipy::serve_script("tcp.js");
    let mut conn = Conn::open(port);
    assert_bytes_eq(&conn.read_exact_bytes(8), b"welcome\n");
    conn.send(b"hello tcp");
    assert_bytes_eq(&conn.read_exact_bytes(9), b"HELLO TCP");
    conn.shutdown_write();
    assert_bytes_eq(&conn.read_to_close(), b"bye\n");
}

#[test]
fn dummy_swallows_everything() {
    let (_pipy, port) = Pipy::serve_script("dummy.js");
    let mut conn = Conn::open(port);
    conn.send(&get("/"));
    conn.expect_silence(Duration::from_millis(300));
}

#[test]
fn stream_callbacks_console_log_dump_and_print() {
    let (pipy, port) = Pipy::serve_script("stream-events.js");
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/d", &[], b"print-me-please"));
    assert_eq!(response.text(), "ok");
    assert!(
        pipy.stderr_contains("conn-start 127.0.0.1", Duration::from_secs(5)),
        "stderr:\n{}",
        pipy.stderr()
    );
    assert!(
        pipy.stderr_contains("DUMP-TAG MessageEnd", Duration::from_secs(5)),
        "dump output missing:\n{}",
        pipy.stderr()
    );
    // The head is shown as scripts see it, fields in Pipy's order.
    let log = pipy.stderr();
    let start = log
        .lines()
        .find(|l| l.contains("[dump] DUMP-TAG MessageStart "))
        .unwrap_or_default();
    assert!(
        start.contains(r#"MessageStart {"protocol":"HTTP/1.1","headers":{"#)
            && start.ends_with(r#"},"method":"POST","path":"/d"}"#),
        "dump of the head: {start:?}"
    );
    assert!(
        log.contains("[dump] DUMP-TAG Data size=15"),
        "dump of the body missing:\n{log}"
    );
    // print's own line: the body as the whole message (dump's hex line also shows the text).
    assert!(
        pipy.wait_stderr(Duration::from_secs(5), |log| log
            .lines()
            .any(|l| l.ends_with("] print-me-please") && !l.contains("[dump]"))),
        "print output missing:\n{}",
        pipy.stderr()
    );
    drop(conn);
    assert!(
        pipy.stderr_contains("conn-end error=[]", Duration::from_secs(5)),
        "stderr:\n{}",
        pipy.stderr()
    );
    // console.log goes to the log at info level, with the log line prefix.
    let log = pipy.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("conn-start 127.0.0.1"))
        .unwrap_or_default();
    assert!(
        line.contains("[INF]"),
        "console.log line should be an info log line: {line:?}"
    );
}

#[test]
fn decode_request_and_encode_request() {
    let (_pipy, port) = Pipy::serve_script("codec-request.js");
    let mut conn = Conn::open(port);
    conn.send(&request("GET", "/in", &[], b""));
    let expected: &[u8] = b"POST /x/in HTTP/1.1\r\nx-h: 1\r\ncontent-length: 9\r\nconnection: keep-alive\r\n\r\nreq-body ";
    assert_bytes_eq(&conn.read_exact_bytes(expected.len()), expected);
    conn.send(&request("PUT", "/two", &[], b"b"));
    let expected: &[u8] = b"POST /x/two HTTP/1.1\r\nx-h: 1\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\nreq-body b";
    assert_bytes_eq(&conn.read_exact_bytes(expected.len()), expected);
}

#[test]
fn a_batch_of_messages_goes_through_the_filters_depth_first() {
    let (_pipy, port) = Pipy::serve_script("depth-first.js");
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    for path in ["/a", "/b", "/c"] {
        batch.extend_from_slice(&get(path));
    }
    conn.send(&batch);
    for expected in ["1 /a\n", "2 /b\n", "3 /c\n"] {
        assert_eq!(conn.read_response().text(), expected);
    }
}

#[test]
fn decode_response_and_encode_response() {
    let (_pipy, port) = Pipy::serve_script("codec-response.js");
    let mut conn = Conn::open(port);
    conn.send(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let response = conn.read_response();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "201 Created ok");
    conn.send(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    assert_eq!(conn.read_response().text(), "404 Not Found abc");
}

#[test]
fn js_builtins_data_json_date_os_env() {
    let port = free_port();
    let port_text = port.to_string();
    let script_path = script("builtins.js").to_string_lossy().into_owned();
    let mut pipy = Pipy::spawn(
        &[&script_path],
        &[("PORT", &port_text), ("PIPY_TEST_MARKER", "marker-value")],
    );
    pipy.wait_port(port);
    let text = http_get(port, "/").text();
    assert_eq!(
        text,
        concat!(
            r#"{"size":6,"push":"abcdef","shift":["ab","cdef"],"hex":"6869","base64":"aGk=","#,
            r#""fromBytes":"hi","fromHex":"hi","copy":"xy","encode":"{\"a\":1}","decode":2,"#,
            r#""now":"number","env":"marker-value"}"#
        )
    );
}

#[test]
fn reference_style_script_runs_unchanged() {
    let (_pipy, port) = Pipy::serve_script("reference-style.js");
    let mut conn = Conn::open(port);
    let hi = conn.roundtrip(&request("GET", "/hi", &[("X-Name", "tester")], b""));
    assert_eq!(hi.status, 200);
    assert_eq!(hi.header("content-type"), Some("text/plain"));
    assert_eq!(hi.text(), "Hi for tester at /hi");
    let bye = conn.roundtrip(&get("/bye"));
    assert_eq!(bye.text(), "Bye for nobody at /bye");
    let missing = conn.roundtrip(&get("/nowhere"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "no route for nobody at undefined");
}
