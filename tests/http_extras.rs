//! Acceptance, HTTP extras: `http.File` static files with gzip variants (tutorial 16), the
//! JSON→XML body transform of tutorial 17 (`XML.encode`/`XML.decode`), and the
//! `compressHTTP`/`decompressHTTP` filters on requests and responses.

mod common;

use common::*;
use flate2::Compression;
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::GzEncoder;
use std::io::{Read, Write};
use std::path::PathBuf;

const INDEX_HTML: &str = "<!DOCTYPE html>\n<html><body><h1>Hello from pipy-rs</h1>\
                          <p>This is a static page served by http.File.</p></body></html>\n";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(bytes).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip body");
    out
}

fn write_bytes(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dir");
    }
    std::fs::write(&path, bytes).expect("write file");
    path
}

fn serve(dir: &TempDir, name: &str, script: &str) -> (Pipy, u16) {
    let path = dir.write(name, script);
    let port = free_port();
    (Pipy::serve(&path, port, &[]), port)
}

// ------------------------------------------------------------------------------ http.File

const STATIC_SCRIPT: &str = r#"
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  msg => (
    (f => f ? f.toMessage(msg.head.headers['accept-encoding']) : new Message({ status: 404 }, 'nope'))(
      http.File.from('www' + msg.head.path)
    )
  )
)
"#;

fn static_site() -> (TempDir, Pipy, u16) {
    let dir = TempDir::new("http-file");
    dir.write("www/index.html", INDEX_HTML);
    write_bytes(&dir, "www/index.html.gz", &gzip(INDEX_HTML.as_bytes()));
    dir.write("www/css/site.css", "body { color: red }\n");
    write_bytes(
        &dir,
        "www/app.js.gz",
        &gzip(b"console.log('only gzipped on disk')\n"),
    );
    dir.write("secret.txt", "outside the web root\n");
    let (pipy, port) = serve(&dir, "static.js", STATIC_SCRIPT);
    (dir, pipy, port)
}

#[test]
fn static_index_html_without_and_with_gzip() {
    let (_dir, _pipy, port) = static_site();
    let mut conn = Conn::open(port);
    for path in ["/", "/index.html"] {
        let plain = conn.roundtrip(&get(path));
        assert_eq!(plain.status, 200, "{plain:?}");
        assert_eq!(plain.header("content-type"), Some("text/html"));
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(
            plain.header("content-length"),
            Some(INDEX_HTML.len().to_string().as_str())
        );
        assert_bytes_eq(&plain.body, INDEX_HTML.as_bytes());

        let zipped = conn.roundtrip(&request(
            "GET",
            path,
            &[("Accept-Encoding", "deflate, gzip;q=1.0, *;q=0.5")],
            b"",
        ));
        assert_eq!(zipped.status, 200, "{zipped:?}");
        assert_eq!(zipped.header("content-type"), Some("text/html"));
        assert_eq!(zipped.header("content-encoding"), Some("gzip"));
        assert_bytes_eq(&zipped.body, &gzip(INDEX_HTML.as_bytes()));
        assert_bytes_eq(&gunzip(&zipped.body), INDEX_HTML.as_bytes());
    }
}

#[test]
fn static_content_types_gz_only_files_and_missing_files() {
    let (_dir, _pipy, port) = static_site();
    let mut conn = Conn::open(port);

    let css = conn.roundtrip(&get("/css/site.css"));
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(css.text(), "body { color: red }\n");

    // Only app.js.gz exists: a client without gzip gets it decompressed.
    let js = conn.roundtrip(&get("/app.js"));
    assert_eq!(js.status, 200, "{js:?}");
    assert_eq!(js.header("content-type"), Some("application/javascript"));
    assert_eq!(js.header("content-encoding"), None);
    assert_eq!(js.text(), "console.log('only gzipped on disk')\n");

    for missing in ["/nothing.html", "/css/", "/../../../../etc/hostname"] {
        let r = conn.roundtrip(&get(missing));
        assert_eq!(r.status, 404, "{missing}: {r:?}");
    }
    // `..` is resolved against the codebase root (the script's directory), as in Pipy: the
    // script's own `www/..` reaches the root, but nothing above it.
    let root = conn.roundtrip(&get("/../secret.txt"));
    assert_eq!(root.text(), "outside the web root\n");
    let above = conn.roundtrip(&get("/../../secret.txt"));
    assert_eq!(above.text(), "outside the web root\n");
}

// ------------------------------------------------------------------------------ tutorial 17

/// The transform plugin of tutorial 17 in one file: `/xml` bodies go JSON→XML, `/json` bodies
/// XML→JSON, and the result is echoed back the way the tutorial's echo service does.
const TRANSFORM_SCRIPT: &str = r#"
pipy({
  _route: '',

  _obj2xml: node => (
    typeof node === 'object' ? (
      Object.entries(node).flatMap(
        ([k, v]) => (
          v instanceof Array && (
            v.map(e => new XML.Node(k, null, _obj2xml(e)))
          ) ||
          v instanceof Object && (
            new XML.Node(k, null, _obj2xml(v))
          ) || (
            new XML.Node(k, null, [v])
          )
        )
      )
    ) : [
      new XML.Node('body', null, [''])
    ]
  ),

  _xml2obj: node => (
    node ? (
      ((
        children,
        first,
        previous,
        obj, k, v,
      ) => (
        obj = {},
        node.children.forEach(node => (
          children = node.children,
          first = children[0],
          k = node.name,
          v = children.length != 1 || first instanceof XML.Node ? _xml2obj(node) : (first || ''),
          previous = obj[k],
          previous instanceof Array ? (
            previous.push(v)
          ) : (
            obj[k] = previous ? [previous, v] : v
          )
        )),
        obj
      ))()
    ) : {}
  ),
})

.listen(+os.env.PORT)
.demuxHTTP('request')

.pipeline('request')
  .handleMessageStart(
    msg => _route = msg.head.path
  )
  .link(
    'json2xml', () => _route === '/xml',
    'xml2json', () => _route === '/json',
    'bypass'
  )
  .replaceMessage(
    msg => new Message(msg.body)
  )

.pipeline('json2xml')
  .replaceMessageBody(
    data => (
      XML.encode(
        new XML.Node(
          '', null, [
            new XML.Node(
              'root', null,
              _obj2xml(JSON.decode(data))
            )
          ]
        ),
        2,
      )
    )
  )

.pipeline('xml2json')
  .replaceMessageBody(
    data => (
      JSON.encode(
        _xml2obj(XML.decode(data))
      )
    )
  )

.pipeline('bypass')
"#;

#[test]
fn tutorial_17_json_to_xml_body_transform() {
    let dir = TempDir::new("transform");
    let (_pipy, port) = serve(&dir, "transform.js", TRANSFORM_SCRIPT);
    let mut conn = Conn::open(port);

    let xml = conn.roundtrip(&request(
        "POST",
        "/xml",
        &[("Content-Type", "application/json")],
        br#"{"msg": "Hi, there!"}"#,
    ));
    assert_eq!(xml.status, 200, "{xml:?}");
    assert_eq!(xml.text(), "<root>\n  <msg>Hi, there!</msg>\n</root>\n");

    // Not JSON (and an empty GET body) decode to undefined: the tutorial's fallback node.
    for req in [request("POST", "/xml", &[], b"plain text"), get("/xml")] {
        assert_eq!(
            conn.roundtrip(&req).text(),
            "<root>\n  <body></body>\n</root>\n"
        );
    }

    let json = conn.roundtrip(&request(
        "POST",
        "/json",
        &[],
        b"<root><a>1</a><a>2</a><b><c>x</c></b></root>",
    ));
    assert_eq!(json.text(), r#"{"root":{"a":["1","2"],"b":{"c":"x"}}}"#);

    let untouched = conn.roundtrip(&request("POST", "/other", &[], b"{\"k\": 1}"));
    assert_eq!(untouched.text(), "{\"k\": 1}");
}

// ------------------------------------------------------------------------------ compression

/// Each request body is compressed, measured, decompressed again and echoed with what was seen.
const ROUND_TRIP_SCRIPT: &str = r#"
pipy({
  _enc: '',
  _zsize: 0,
})

.listen(+os.env.PORT)
.demuxHTTP('request')

.pipeline('request')
  .compressHTTP({ method: 'gzip', level: 'best' })
  .handleMessageStart(
    msg => _enc = msg.head.headers['content-encoding']
  )
  .handleMessageBody(
    '64m', body => _zsize = body.size
  )
  .decompressHTTP()
  .replaceMessage(
    '64m', msg => new Message(
      { headers: { 'x-enc': _enc, 'x-zsize': String(_zsize),
                   'x-after': msg.head.headers['content-encoding'] } },
      msg.body
    )
  )
"#;

#[test]
fn compress_then_decompress_in_one_pipeline_is_identity() {
    let dir = TempDir::new("roundtrip");
    let (_pipy, port) = serve(&dir, "roundtrip.js", ROUND_TRIP_SCRIPT);
    let mut conn = Conn::open(port);

    let text: Vec<u8> = "all work and no play makes jack a dull boy\n"
        .repeat(20_000)
        .into_bytes();
    let noise = pattern_bytes(300_000, 7);
    for body in [&text, &noise] {
        let r = conn.roundtrip(&request("POST", "/up", &[], body));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-enc"), Some("gzip"));
        assert_eq!(
            r.header("x-after"),
            Some("gzip"),
            "decompressHTTP keeps the header"
        );
        assert_bytes_eq(&r.body, body);
        let zsize: usize = r
            .header("x-zsize")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(zsize > 0);
        if std::ptr::eq(body, &text) {
            assert!(zsize < body.len() / 20, "text compresses well: {zsize}");
        }
    }

    // Sent in many small chunks, the body is transcoded as it streams and still comes back whole.
    let chunked_req = [
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        chunked(&noise, &[1, 17, 4096, 333]),
    ]
    .concat();
    let r = conn.roundtrip(&chunked_req);
    assert_bytes_eq(&r.body, &noise);
}

const RESPONSE_COMPRESS_SCRIPT: &str = r#"
pipy({
  _route: '',
})

.listen(+os.env.PORT)
.demuxHTTP('request')

.pipeline('request')
  .handleMessageStart(
    msg => _route = msg.head.path
  )
  .replaceMessage(
    () => new Message(
      { status: 200, headers: { 'content-type': 'text/plain' } },
      'pipy-rs compresses this body. '.repeat(1000)
    )
  )
  .link(
    'gzip', () => _route === '/gzip',
    'deflate', () => _route === '/deflate',
    'off', () => _route === '/off',
    'bypass'
  )

.pipeline('gzip')
  .compressHTTP()

.pipeline('deflate')
  .compressMessage({ method: 'deflate', level: 'speed' })

.pipeline('off')
  .compressHTTP({ enabled: false })

.pipeline('bypass')
"#;

#[test]
fn compress_http_labels_and_encodes_responses() {
    let dir = TempDir::new("compress");
    let (_pipy, port) = serve(&dir, "compress.js", RESPONSE_COMPRESS_SCRIPT);
    let mut conn = Conn::open(port);
    let expected = "pipy-rs compresses this body. ".repeat(1000).into_bytes();

    let gz = conn.roundtrip(&get("/gzip"));
    assert_eq!(gz.header("content-encoding"), Some("gzip"), "{gz:?}");
    assert_eq!(gz.header("content-type"), Some("text/plain"));
    assert!(gz.body.len() < expected.len() / 10);
    assert_bytes_eq(&gunzip(&gz.body), &expected);

    let z = conn.roundtrip(&get("/deflate"));
    assert_eq!(z.header("content-encoding"), Some("deflate"), "{z:?}");
    let mut plain = Vec::new();
    ZlibDecoder::new(&z.body[..])
        .read_to_end(&mut plain)
        .expect("zlib body");
    assert_bytes_eq(&plain, &expected);

    for path in ["/off", "/plain"] {
        let r = conn.roundtrip(&get(path));
        assert_eq!(r.header("content-encoding"), None, "{path}");
        assert_bytes_eq(&r.body, &expected);
    }
}

const DECOMPRESS_SCRIPT: &str = r#"
pipy()

.listen(+os.env.PORT)
.demuxHTTP('request')

.pipeline('request')
  .decompressHTTP(
    msg => msg.head.path !== '/raw'
  )
  .replaceMessage(
    '64m', msg => new Message(
      { headers: { 'x-enc': msg.head.headers['content-encoding'] || 'none' } },
      msg.body
    )
  )
"#;

#[test]
fn decompress_http_inflates_gzip_request_bodies() {
    let dir = TempDir::new("decompress");
    let (_pipy, port) = serve(&dir, "decompress.js", DECOMPRESS_SCRIPT);
    let mut conn = Conn::open(port);
    let body = pattern_bytes(200_000, 11);
    let zipped = gzip(&body);

    let r = conn.roundtrip(&request(
        "POST",
        "/up",
        &[("Content-Encoding", "gzip")],
        &zipped,
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-enc"), Some("gzip"));
    assert_bytes_eq(&r.body, &body);

    // Chunked upload in odd pieces: the gzip header and trailer arrive split.
    let chunked_req = [
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec(),
        chunked(&zipped, &[3, 1, 5000, 7]),
    ]
    .concat();
    assert_bytes_eq(&conn.roundtrip(&chunked_req).body, &body);

    // Disabled by the callback, other codings, and no coding: bodies pass unchanged.
    let raw = conn.roundtrip(&request(
        "POST",
        "/raw",
        &[("Content-Encoding", "gzip")],
        &zipped,
    ));
    assert_bytes_eq(&raw.body, &zipped);
    let br = conn.roundtrip(&request(
        "POST",
        "/up",
        &[("Content-Encoding", "br")],
        b"\x0bnot really",
    ));
    assert_eq!(br.header("x-enc"), Some("br"));
    assert_bytes_eq(&br.body, b"\x0bnot really");
    let plain = conn.roundtrip(&request("POST", "/up", &[], b"plain body"));
    assert_eq!(plain.header("x-enc"), Some("none"));
    assert_eq!(plain.text(), "plain body");
}
