//! Message heads as scripts see them: fields of a parsed head read like a plain object
//! (`Object.keys`, spread, `JSON.stringify`), and assignments to them reach the encoder.

mod common;

use common::*;

fn start(dir: &TempDir, script: &str) -> (Pipy, u16, u16) {
    let path = dir.write("heads.js", script);
    let (port, backend) = (free_port(), free_port());
    let mut pipy = Pipy::serve_with(&path, port, &[], &[("PORT2", &backend.to_string())]);
    pipy.wait_port(backend);
    (pipy, port, backend)
}

fn get(port: u16, request: &str) -> Response {
    Conn::open(port).roundtrip(request.as_bytes())
}

#[test]
fn a_request_head_enumerates_like_a_plain_object() {
    let dir = TempDir::new("heads");
    let (_pipy, port, _) = start(
        &dir,
        "pipy().listen(+os.env.PORT).serveHTTP(msg => new Message(JSON.stringify({
           keys: Object.keys(msg.head),
           spread: { ...msg.head },
           json: JSON.parse(JSON.stringify(msg.head)),
           sameHeaders: msg.head.headers === msg.head.headers,
         })))
         pipy().listen(+os.env.PORT2).serveHTTP(new Message('unused'))",
    );
    let r = get(
        port,
        "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Test: 1\r\n\r\n",
    );
    let head = r#"{"protocol":"HTTP/1.1","headers":{"host":"example.com","x-test":"1"},"method":"GET","path":"/a?b=1"}"#;
    assert_eq!(
        r.text(),
        format!(
            r#"{{"keys":["protocol","headers","method","path"],"spread":{head},"json":{head},"sameHeaders":true}}"#
        )
    );
}

const PROXY: &str = r#"
pipy()
.listen(+os.env.PORT)
  .demuxHTTP('request')

.pipeline('request')
  .handleMessageStart(
    msg => {
      const h = msg.head;
      if (h.path === '/rewrite') {
        h.path = '/rewritten';
        h.method = 'PUT';
        h.headers['x-added'] = 'yes';
      } else if (h.path === '/replace-headers') {
        h.headers = { 'x-only': 'this' };
      }
    }
  )
  .muxHTTP('upstream')
  .handleMessageStart(
    msg => {
      if (msg.head.headers['x-path'] === '/rewritten') {
        msg.head.status = 201;
      } else if (msg.head.headers['x-path'] === '/replace-headers') {
        msg.head.status = 202;
        msg.head.statusText = 'Taken';
      }
    }
  )

.pipeline('upstream')
  .connect(() => '127.0.0.1:' + os.env.PORT2)

pipy()
.listen(+os.env.PORT2)
  .serveHTTP(
    msg => new Message(
      { headers: { 'x-path': msg.head.path } },
      [msg.head.method, msg.head.path, Object.keys(msg.head.headers).join(',')].join(' ')
    )
  )
"#;

#[test]
fn assignments_to_a_parsed_request_head_reach_the_upstream() {
    let dir = TempDir::new("heads");
    let (_pipy, port, _) = start(&dir, PROXY);
    let r = get(
        port,
        "GET /rewrite HTTP/1.1\r\nHost: example.com\r\nX-Test: 1\r\n\r\n",
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.reason, "Created");
    assert_eq!(
        r.text(),
        "PUT /rewritten host,x-test,x-added,content-length,connection"
    );
}

#[test]
fn replaced_headers_and_status_text_reach_the_encoder() {
    let dir = TempDir::new("heads");
    let (_pipy, port, _) = start(&dir, PROXY);
    let r = get(
        port,
        "GET /replace-headers HTTP/1.1\r\nHost: example.com\r\nX-Test: 1\r\n\r\n",
    );
    assert_eq!((r.status, r.reason.as_str()), (202, "Taken"));
    assert_eq!(
        r.text(),
        "GET /replace-headers x-only,content-length,connection"
    );
}

#[test]
fn an_untouched_head_passes_through_unchanged() {
    let dir = TempDir::new("heads");
    let (_pipy, port, _) = start(&dir, PROXY);
    let r = get(
        port,
        "GET /plain HTTP/1.1\r\nHost: example.com\r\nX-Test: 1\r\n\r\n",
    );
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.text(), "GET /plain host,x-test,content-length,connection");
}

/// A status a script gives that is not a three-digit code is not written to the wire (the
/// client could not read that status line): the response keeps its status, and the worker
/// says why.
#[test]
fn a_status_that_is_not_a_code_is_ignored_with_a_warning() {
    let dir = TempDir::new("heads");
    let (pipy, port, _) = start(
        &dir,
        "pipy().listen(+os.env.PORT2).serveHTTP(new Message('unused'))
         .listen(+os.env.PORT).serveHTTP(msg => new Message(
           { status: Number(msg.head.headers['x-status']) }, 'body'))",
    );
    for (given, logged) in [("99", "99"), ("1000", "1000"), ("-5", "-5"), ("abc", "NaN")] {
        let response = get(
            port,
            &format!("GET / HTTP/1.1\r\nHost: a\r\nx-status: {given}\r\n\r\n"),
        );
        assert_eq!(response.status, 200, "{given}");
        assert_eq!(response.text(), "body");
        assert!(
            pipy.stderr_contains(
                &format!("ignoring response status {logged}: not a status code"),
                IO_TIMEOUT
            ),
            "{given}:\n{}",
            pipy.stderr()
        );
    }
    assert_eq!(
        get(port, "GET / HTTP/1.1\r\nHost: a\r\nx-status: 404\r\n\r\n").status,
        404
    );
}
