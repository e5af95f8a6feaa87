//! Acceptance, the tutorials: scripts of the same shape as Pipy's tutorials 03–19 (in
//! `tests/scripts/tutorials/`) run against real HTTP/1.1 mock services on loopback that count
//! the connections and requests they get (see `tests/mock`).
//!
//! The scripts take every port from the environment: `PORT` (the proxy), `UPSTREAM` (tutorial
//! 03), `HI`, `ECHO`, `IP` (the three services of tutorial 02), `LOG` (the log collector) and
//! `PROXY_CONFIG` (which plugin list of the gateway to run).

mod common;
mod mock;

use common::*;
use mock::{Backend, Service};
use std::thread;
use std::time::{Duration, Instant};

const HI_BODY: &str = "Hi, there!\n";

/// The three services of tutorial 02.
struct Services {
    hi: Backend,
    echo: Backend,
    ip: Backend,
}

impl Services {
    fn start() -> Services {
        Services {
            hi: Backend::start(Service::Hi),
            echo: Backend::start(Service::Echo),
            ip: Backend::start(Service::TellIp),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HI".into(), self.hi.port().to_string()),
            ("ECHO".into(), self.echo.port().to_string()),
            ("IP".into(), self.ip.port().to_string()),
        ]
    }

    /// Requests received by the two targets of service-hi.
    fn hi_service_requests(&self) -> usize {
        self.hi.requests() + self.ip.requests()
    }

    /// Upstream connections accepted by the two targets of service-hi.
    fn hi_service_connections(&self) -> usize {
        self.hi.connections() + self.ip.connections()
    }
}

/// Starts `tutorials/<main>` with `PORT` and the given variables; returns it and its port.
fn start(main: &str, vars: &[(String, String)]) -> (Pipy, u16) {
    start_with(main, vars, &[])
}

fn start_with(main: &str, vars: &[(String, String)], options: &[&str]) -> (Pipy, u16) {
    let port = free_port();
    let envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let main = script(&format!("tutorials/{main}"));
    (Pipy::serve_with(&main, port, options, &envs), port)
}

/// Starts the gateway of tutorials 08–19 with the plugin list of `config/<config>.json`.
fn start_gateway(config: &str, services: &Services, extra: &[(&str, String)]) -> (Pipy, u16) {
    start_gateway_with(config, services, extra, &[])
}

fn start_gateway_with(
    config: &str,
    services: &Services,
    extra: &[(&str, String)],
    options: &[&str],
) -> (Pipy, u16) {
    let mut vars = services.env();
    vars.push(("PROXY_CONFIG".into(), format!("config/{config}.json")));
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    start_with("gateway/proxy.js", &vars, options)
}

/// What service-hi's second target (the tell-ip service) answers for `path`.
fn tell_ip(path: &str) -> String {
    format!("You are requesting {path} from 127.0.0.1\n")
}

/// The exact bytes of a keep-alive response with a short body and no other headers.
fn plain_response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Body of one GET on a fresh connection.
fn get_body(port: u16, path: &str) -> String {
    let response = http_get(port, path);
    assert_eq!(response.status, 200, "GET {path}: {response:?}");
    response.text()
}

/// Waits until the worker has handled the close of the client connections from these local
/// ports (needs `--log-level=debug`). The proxy releases per-connection state (balancer picks,
/// pooled connection ids) on the close, before it accepts the next connection.
fn wait_closed(pipy: &Pipy, client_ports: &[u16]) {
    let closed = pipy.wait_stderr(Duration::from_secs(5), |log| {
        client_ports
            .iter()
            .all(|p| log.contains(&format!("from 127.0.0.1:{p} closed")))
    });
    assert!(
        closed,
        "closes of {client_ports:?} not seen:\n{}",
        pipy.stderr()
    );
}

// ---------------------------------------------------------------------------------------------
// 03–07
// ---------------------------------------------------------------------------------------------

#[test]
fn t03_plain_proxy_forwards_every_client_over_one_upstream_connection() {
    let hi = Backend::start(Service::Hi);
    let (_pipy, port) = start("03-proxy.js", &[("UPSTREAM".into(), hi.port().to_string())]);
    for _ in 0..3 {
        let mut conn = Conn::open(port);
        for path in ["/", "/some/path?q=1"] {
            assert_bytes_eq(&conn.roundtrip(&get(path)).raw, HELLO_RESPONSE);
        }
    }
    assert_eq!(hi.requests(), 6);
    assert_eq!(
        hi.connections(),
        1,
        "muxHTTP with key '' shares one upstream connection"
    );
    let first = &hi.records()[0];
    assert_eq!((first.method.as_str(), first.path.as_str()), ("GET", "/"));
    assert_eq!(first.header("host"), Some("127.0.0.1"));
}

#[test]
fn t03_plain_proxy_forwards_request_bodies() {
    let echo = Backend::start(Service::Echo);
    let (_pipy, port) = start(
        "03-proxy.js",
        &[("UPSTREAM".into(), echo.port().to_string())],
    );
    let mut conn = Conn::open(port);
    let response = conn.roundtrip(&request("POST", "/echo", &[], b"hello"));
    assert_bytes_eq(&response.raw, &plain_response("200 OK", "hello"));
    let body = pattern_bytes(100_000, 3);
    let response = conn.roundtrip(&request("PUT", "/big", &[], &body));
    assert_eq!(response.status, 200);
    assert!(response.body == body, "100 kB body changed on the way");
}

#[test]
fn t04_routing_by_path_with_404() {
    let services = Services::start();
    let (_pipy, port) = start("04-routing.js", &services.env());
    let mut conn = Conn::open(port);
    for path in ["/hi", "/hi/x"] {
        assert_bytes_eq(&conn.roundtrip(&get(path)).raw, HELLO_RESPONSE);
    }
    assert_eq!(conn.roundtrip(&get("/ip/a")).text(), tell_ip("/ip/a"));
    assert_eq!(
        conn.roundtrip(&request("POST", "/echo", &[], b"hello"))
            .text(),
        "hello"
    );
    for path in ["/echo/x", "/bad/path"] {
        assert_bytes_eq(
            &conn.roundtrip(&get(path)).raw,
            &plain_response("404 Not Found", "No route"),
        );
    }
    assert_eq!(services.hi.requests(), 2);
    assert_eq!(services.echo.requests(), 1);
    assert_eq!(services.ip.requests(), 1);
}

#[test]
fn t06_plugin_chain_from_json_config_with_404_fallback() {
    let services = Services::start();
    let (_pipy, port) = start("06-plugins/proxy.js", &services.env());
    let mut conn = Conn::open(port);
    assert_bytes_eq(&conn.roundtrip(&get("/hi/there")).raw, HELLO_RESPONSE);
    assert_eq!(conn.roundtrip(&get("/ip/a")).text(), tell_ip("/ip/a"));
    assert_eq!(
        conn.roundtrip(&request("POST", "/echo", &[], b"hello"))
            .text(),
        "hello"
    );
    for path in ["/echo/x", "/bad/path", "/"] {
        assert_bytes_eq(
            &conn.roundtrip(&get(path)).raw,
            &plain_response("404 Not Found", "No handler"),
        );
    }
    assert_eq!(
        services.hi.requests() + services.echo.requests() + services.ip.requests(),
        3
    );
}

#[test]
fn t07_round_robin_per_request_even_on_one_connection() {
    let services = Services::start();
    let (_pipy, port) = start("07-load-balancing/proxy.js", &services.env());
    let mut conn = Conn::open(port);
    let bodies: Vec<String> = (0..6).map(|_| conn.roundtrip(&get("/hi")).text()).collect();
    for pair in bodies.windows(2) {
        assert_ne!(pair[0], pair[1], "round robin must alternate: {bodies:?}");
    }
    for body in &bodies {
        assert!(
            body == HI_BODY || *body == tell_ip("/hi"),
            "unexpected body {body:?}"
        );
    }
    assert_eq!(services.hi.requests(), 3);
    assert_eq!(services.ip.requests(), 3);
    assert_eq!(conn.roundtrip(&get("/ip/x")).text(), tell_ip("/ip/x"));
    assert_eq!(conn.roundtrip(&get("/nowhere")).text(), "No handler");
}

// ---------------------------------------------------------------------------------------------
// 08–10: the gateway with per-connection balancing, a connection pool and path rewriting
// ---------------------------------------------------------------------------------------------

#[test]
fn t08_round_robin_per_connection_with_algo_cache() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy", &services, &[]);
    let mut per_connection = Vec::new();
    for _ in 0..4 {
        let mut conn = Conn::open(port);
        let bodies: Vec<String> = (0..3).map(|_| conn.roundtrip(&get("/hi")).text()).collect();
        assert!(
            bodies.iter().all(|b| *b == bodies[0]),
            "one connection must stay on its target: {bodies:?}"
        );
        per_connection.push(bodies[0].clone());
    }
    for pair in per_connection.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "the next connection gets the next target: {per_connection:?}"
        );
    }
}

#[test]
fn t09_connection_pool_one_upstream_connection_per_client_reused_later() {
    let services = Services::start();
    let (pipy, port) = start_gateway_with("proxy", &services, &[], &["--log-level=debug"]);
    const CLIENTS: usize = 4;

    let mut clients: Vec<Conn> = (0..CLIENTS).map(|_| Conn::open(port)).collect();
    for round in 0..2 {
        for conn in clients.iter_mut() {
            let body = conn.roundtrip(&get("/hi")).text();
            assert!(
                body == HI_BODY || body == tell_ip("/hi"),
                "round {round}: {body:?}"
            );
        }
    }
    assert_eq!(services.hi_service_requests(), 2 * CLIENTS);
    assert_eq!(
        services.hi_service_connections(),
        CLIENTS,
        "{CLIENTS} concurrent clients make {CLIENTS} upstream connections"
    );
    assert_eq!(services.hi.connections(), CLIENTS / 2);

    // The clients leave; their pooled connection ids go back to the pool and the next clients
    // get them, and with them the upstream connections that are still open.
    let ports: Vec<u16> = clients.iter().map(|c| c.local_addr().port()).collect();
    drop(clients);
    wait_closed(&pipy, &ports);
    let mut clients: Vec<Conn> = (0..CLIENTS).map(|_| Conn::open(port)).collect();
    for conn in clients.iter_mut() {
        assert_eq!(conn.roundtrip(&get("/hi")).status, 200);
    }
    assert_eq!(services.hi_service_requests(), 3 * CLIENTS);
    assert_eq!(
        services.hi_service_connections(),
        CLIENTS,
        "later clients reuse the pooled upstream connections"
    );
}

#[test]
fn t10_path_rewriting() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy", &services, &[]);
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/ip/a")).text(), tell_ip("/a"));
    assert_eq!(
        conn.roundtrip(&get("/ip/a/b?x=1")).text(),
        tell_ip("/a/b?x=1")
    );
    assert_eq!(conn.roundtrip(&get("/ip")).text(), tell_ip("/"));
    assert_eq!(conn.roundtrip(&get("/ip/")).text(), tell_ip("/"));
    let hi = conn.roundtrip(&get("/hi/x")).text();
    assert!(
        hi == HI_BODY || hi == tell_ip("/hi/x"),
        "/hi/* is not rewritten: {hi:?}"
    );
    let paths: Vec<String> = services
        .ip
        .records()
        .iter()
        .chain(services.hi.records().iter())
        .map(|r| r.path.clone())
        .collect();
    assert!(paths.contains(&"/hi/x".to_string()), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("/ip")), "{paths:?}");
}

/// A predicate on a response body.
type BodyCheck = Box<dyn Fn(&str) -> bool>;

#[test]
fn t10_gateway_answers_pipelined_requests_for_mixed_routes_in_order() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy", &services, &[]);
    let mut conn = Conn::open(port);
    let mut batch = Vec::new();
    let mut expected: Vec<BodyCheck> = Vec::new();
    for i in 0..10 {
        batch.extend_from_slice(&get(&format!("/ip/{i}")));
        let ip = tell_ip(&format!("/{i}"));
        expected.push(Box::new(move |body| body == ip));
        let echoed = format!("body {i}");
        batch.extend_from_slice(&request("POST", "/echo", &[], echoed.as_bytes()));
        expected.push(Box::new(move |body| body == echoed));
        batch.extend_from_slice(&get(&format!("/missing/{i}")));
        expected.push(Box::new(|body| body == "No handler"));
        let hi_path = format!("/hi/{i}");
        batch.extend_from_slice(&get(&hi_path));
        let hi_tell = tell_ip(&hi_path);
        expected.push(Box::new(move |body| body == HI_BODY || body == hi_tell));
    }
    conn.send(&batch);
    for (i, check) in expected.iter().enumerate() {
        let body = conn.read_response().text();
        assert!(check(&body), "response {i} out of order or wrong: {body:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 11–17, 19: the extra plugins
// ---------------------------------------------------------------------------------------------

#[test]
fn t11_access_log_batches_reach_the_collector_within_the_pack_timeout() {
    // config/logger.json: batches of up to 1000 lines, flushed after 1 s without new lines.
    const PACK_TIMEOUT: Duration = Duration::from_secs(1);
    const SLACK: Duration = Duration::from_millis(1500);
    let services = Services::start();
    let collector = Backend::start(Service::Empty);
    let (_pipy, port) = start_gateway(
        "proxy-log",
        &services,
        &[("LOG", collector.port().to_string())],
    );
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/ip/a")).text(), tell_ip("/a"));
    assert_eq!(
        conn.roundtrip(&request("POST", "/echo", &[], b"hello"))
            .text(),
        "hello",
        "the client's responses are not changed by logging"
    );
    assert_eq!(conn.roundtrip(&get("/nowhere")).status, 404);
    let last_response = Instant::now();

    let lines = || -> Vec<String> {
        collector
            .records()
            .iter()
            .flat_map(|r| {
                String::from_utf8_lossy(&r.body)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let arrived = poll_until(PACK_TIMEOUT + SLACK, || lines().len() >= 3);
    assert!(
        arrived,
        "3 log lines expected at the collector within {:?} of the last request; got {:?}",
        PACK_TIMEOUT + SLACK,
        lines()
    );
    // One batch, sent once no line came for the pack timeout.
    assert_eq!(collector.records().len(), 1, "{:?}", lines());
    let delay = collector.records()[0]
        .at
        .saturating_duration_since(last_response);
    assert!(
        delay >= PACK_TIMEOUT - Duration::from_millis(200),
        "batch sent after {delay:?}, before the pack timeout"
    );

    for record in collector.records() {
        assert_eq!(record.method, "POST");
        assert_eq!(record.path, "/log");
        assert_eq!(record.header("content-type"), Some("application/json"));
        assert_eq!(
            record.header("host"),
            Some(format!("127.0.0.1:{}", collector.port()).as_str())
        );
    }
    let lines = lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no log line with {needle:?} in {lines:?}"))
            .clone()
    };
    // The router runs before the logger, so the logged path is the rewritten one.
    let ip = find(r#""path":"/a""#);
    assert!(ip.contains(r#""status":200"#), "{ip}");
    assert!(ip.contains(r#""remoteAddr":"127.0.0.1""#), "{ip}");
    let echo = find(r#""path":"/echo""#);
    assert!(echo.contains(r#""method":"POST""#), "{echo}");
    assert!(echo.contains(r#""body":"hello""#), "{echo}");
    let missing = find(r#""path":"/nowhere""#);
    assert!(missing.contains(r#""status":404"#), "{missing}");
    assert!(missing.contains(r#""body":"No handler""#), "{missing}");
    for line in &lines {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "one JSON object per line: {line}"
        );
        for key in ["\"req\":", "\"res\":", "\"reqTime\":", "\"endTime\":"] {
            assert!(line.contains(key), "{key} missing in {line}");
        }
    }
}

#[test]
fn t11_last_log_batch_is_delivered_when_the_idle_merge_session_ends() {
    // A pack timeout far beyond the test: the batch can only go out when merge closes its idle
    // session (maxIdle, 10 s by default) and pack flushes on that StreamEnd.
    const MERGE_MAX_IDLE: Duration = Duration::from_secs(10);
    let services = Services::start();
    let collector = Backend::start(Service::Empty);
    let (_pipy, port) = start_gateway(
        "proxy-log",
        &services,
        &[
            ("LOG", collector.port().to_string()),
            ("LOG_BATCH_TIMEOUT", "600".to_string()),
        ],
    );
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/ip/idle")).text(), tell_ip("/idle"));
    let answered = Instant::now();
    drop(conn);
    let delivered = collector.wait_requests(1, MERGE_MAX_IDLE + Duration::from_secs(5));
    assert!(
        delivered,
        "the batch flushed at the end of the idle merge session never reached the collector"
    );
    let after = collector.records()[0]
        .at
        .saturating_duration_since(answered);
    assert!(
        after >= MERGE_MAX_IDLE - Duration::from_secs(1),
        "delivered after {after:?}: not by the merge session's idle end"
    );
    let body = String::from_utf8_lossy(&collector.records()[0].body).into_owned();
    assert!(body.contains(r#""path":"/idle""#), "{body}");
}

#[test]
fn t11_last_log_batch_is_delivered_when_the_proxy_stops() {
    // A pack timeout far beyond the test: only the shutdown can flush the batch.
    let services = Services::start();
    let collector = Backend::start(Service::Empty);
    let (mut pipy, port) = start_gateway(
        "proxy-log",
        &services,
        &[
            ("LOG", collector.port().to_string()),
            ("LOG_BATCH_TIMEOUT", "600".to_string()),
        ],
    );
    let mut conn = Conn::open(port);
    assert_eq!(conn.roundtrip(&get("/ip/last")).text(), tell_ip("/last"));
    drop(conn);

    pipy.terminate();
    // Well within merge's 10 s maxIdle: only the shutdown can have flushed the batch.
    let delivered = collector.wait_requests(1, Duration::from_secs(5));
    let status = pipy.wait_exit(Duration::from_secs(40));
    assert!(
        delivered,
        "the pending log batch was lost at shutdown (exit {status}); stderr:\n{}",
        pipy.stderr()
    );
    let body = String::from_utf8_lossy(&collector.records()[0].body).into_owned();
    assert!(body.contains(r#""path":"/last""#), "{body}");
}

#[test]
fn t13_ip_deny_list_answers_403() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-ban", &services, &[]);
    let mut conn = Conn::open(port);
    let denied = plain_response("403 Forbidden", "Access denied");
    // service-hi black-lists 127.0.0.1; service-tell-ip white-lists only 10.0.0.1.
    assert_bytes_eq(&conn.roundtrip(&get("/hi")).raw, &denied);
    assert_bytes_eq(&conn.roundtrip(&get("/ip/a")).raw, &denied);
    assert_eq!(
        conn.roundtrip(&request("POST", "/echo", &[], b"let me in"))
            .text(),
        "let me in"
    );
    assert_eq!(conn.roundtrip(&get("/other")).text(), "No handler");
    assert_eq!(services.hi_service_requests(), 0);
    assert_eq!(services.echo.requests(), 1);
}

#[test]
fn t14_throttle_caps_the_request_rate_of_a_service() {
    // config/throttle.json: service-hi at 20 requests/s across all clients.
    const RATE: usize = 20;
    const WINDOW: Duration = Duration::from_secs(3);
    const CLIENTS: usize = 4;
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-throttle", &services, &[]);

    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut conn = Conn::open(port);
                let mut done = 0usize;
                while started.elapsed() < WINDOW {
                    let response = conn.roundtrip(&get("/hi"));
                    assert_eq!(response.status, 200, "throttling delays, never rejects");
                    if started.elapsed() <= WINDOW {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();

    // Other services are not limited meanwhile: measured once service-hi's quota is spent.
    assert!(poll_until(WINDOW, || services.hi_service_requests() >= RATE));
    let mut echo = Conn::open(port);
    let echo_start = Instant::now();
    for _ in 0..50 {
        assert_eq!(
            echo.roundtrip(&request("POST", "/echo", &[], b"x")).text(),
            "x"
        );
    }
    let echo_time = echo_start.elapsed();

    let total: usize = workers
        .into_iter()
        .map(|w| w.join().expect("client thread"))
        .sum();
    // A token bucket refilled every second: 3 refills in 3 s, plus possibly one at each end.
    let seconds = WINDOW.as_secs() as usize;
    assert!(
        total >= RATE * (seconds - 1) && total <= RATE * (seconds + 1),
        "{total} requests in {WINDOW:?} at {RATE}/s"
    );
    assert!(
        echo_time < Duration::from_secs(1),
        "50 unthrottled requests took {echo_time:?}"
    );
}

#[test]
fn t15_response_cache_with_ttl() {
    // config/cache.json: service-hi responses for *.js / *.json, kept 1000 ms.
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-cache", &services, &[]);

    let first = http_get(port, "/hi/a.json");
    assert_eq!(first.status, 200);
    assert_eq!(services.hi_service_requests(), 1);
    // New connections would be balanced to the other target: equal bodies prove the cache.
    for _ in 0..3 {
        let again = http_get(port, "/hi/a.json");
        assert_eq!(again.status, 200);
        assert_eq!(again.text(), first.text());
    }
    assert_eq!(services.hi_service_requests(), 1, "served from the cache");

    // Not a cached suffix: always fetched.
    let _ = get_body(port, "/hi/a.txt");
    let _ = get_body(port, "/hi/a.txt");
    assert_eq!(services.hi_service_requests(), 3);

    // After the TTL without hits the entry is stale and fetched again.
    thread::sleep(Duration::from_millis(1300));
    let _ = get_body(port, "/hi/a.json");
    assert_eq!(services.hi_service_requests(), 4, "expired entry refetched");
    let _ = get_body(port, "/hi/a.json");
    assert_eq!(services.hi_service_requests(), 4, "and cached again");
}

#[test]
fn t16_static_files_with_index_html_and_gzip() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-static", &services, &[]);
    let www = script("tutorials/gateway/www");
    let index = std::fs::read(www.join("index.html")).expect("index.html");
    let note = std::fs::read(www.join("note.txt")).expect("note.txt");
    let note_gz = std::fs::read(www.join("note.txt.gz")).expect("note.txt.gz");

    let mut conn = Conn::open(port);
    for path in ["/ip", "/ip/", "/ip/index.html"] {
        let response = conn.roundtrip(&get(path));
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert_eq!(response.header("content-type"), Some("text/html"), "{path}");
        assert_eq!(
            response.header("content-length"),
            Some(index.len().to_string().as_str())
        );
        assert!(response.body == index, "{path}: {response:?}");
    }

    let gzipped = conn.roundtrip(&request(
        "GET",
        "/ip/note.txt",
        &[("Accept-Encoding", "gzip, deflate")],
        b"",
    ));
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(gzipped.header("content-type"), Some("text/plain"));
    assert!(gzipped.body == note_gz, "{gzipped:?}");

    let plain = conn.roundtrip(&get("/ip/note.txt"));
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body == note, "{plain:?}");

    // A file that does not exist goes on to the service.
    assert_eq!(
        conn.roundtrip(&get("/ip/missing")).text(),
        tell_ip("/missing")
    );
    assert_eq!(services.ip.requests(), 1);
}

#[test]
fn t17_json_request_bodies_become_xml() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-transform", &services, &[]);
    let mut conn = Conn::open(port);
    let post = |conn: &mut Conn, body: &str| {
        conn.roundtrip(&request("POST", "/echo", &[], body.as_bytes()))
            .text()
    };
    assert_eq!(
        post(&mut conn, r#"{"msg": "Hi, there!"}"#),
        "<root>\n  <msg>Hi, there!</msg>\n</root>\n"
    );
    assert_eq!(
        post(&mut conn, r#"{"a": {"b": "1"}, "c": ["x", "y"]}"#),
        "<root>\n  <a>\n    <b>1</b>\n  </a>\n  <c>x</c>\n  <c>y</c>\n</root>\n"
    );
    assert_eq!(
        post(&mut conn, "not json"),
        "<root>\n  <body></body>\n</root>\n"
    );
    assert_eq!(
        conn.roundtrip(&get("/echo")).text(),
        "<root>\n  <body></body>\n</root>\n"
    );
    // What reached the echo service is the XML.
    assert_eq!(
        String::from_utf8_lossy(&services.echo.records()[0].body),
        "<root>\n  <msg>Hi, there!</msg>\n</root>\n"
    );
    // Other services' bodies are untouched.
    assert_eq!(conn.roundtrip(&get("/ip/q")).text(), tell_ip("/q"));
}

#[test]
fn t19_sticky_sessions_by_authorization() {
    let services = Services::start();
    let (_pipy, port) = start_gateway("proxy-advanced", &services, &[]);
    // Without a key: round robin per connection.
    let anonymous: Vec<String> = (0..3).map(|_| get_body(port, "/hi")).collect();
    assert_ne!(anonymous[0], anonymous[1], "{anonymous:?}");
    assert_eq!(anonymous[0], anonymous[2], "{anonymous:?}");

    for token in ["token-a", "token-b", "token-c"] {
        let bodies: Vec<String> = (0..4)
            .map(|_| {
                Conn::open(port)
                    .roundtrip(&request("GET", "/hi", &[("Authorization", token)], b""))
                    .text()
            })
            .collect();
        assert!(
            bodies.iter().all(|b| *b == bodies[0]),
            "{token} must stick to one target: {bodies:?}"
        );
    }
}

#[test]
fn t19_least_work_balancing() {
    let services = Services::start();
    let (pipy, port) = start_gateway_with("proxy-advanced", &services, &[], &["--log-level=debug"]);
    // Sequential connections: each releases its pick on close, so the least loaded target is
    // the same one every time.
    let mut sequential = Vec::new();
    for _ in 0..4 {
        let mut conn = Conn::open(port);
        let response = conn.roundtrip(&get("/lw/x"));
        assert_eq!(response.status, 200);
        sequential.push(response.text());
        let client_port = conn.local_addr().port();
        drop(conn);
        wait_closed(&pipy, &[client_port]);
    }
    assert!(
        sequential.iter().all(|b| *b == sequential[0]),
        "{sequential:?}"
    );
    // Concurrent connections: the second one goes to the other (idle) target.
    let mut first = Conn::open(port);
    let mut second = Conn::open(port);
    let a = first.roundtrip(&get("/lw/x")).text();
    let b = second.roundtrip(&get("/lw/x")).text();
    assert_ne!(a, b, "busy target skipped");
    for body in [&a, &b] {
        assert!(
            *body == HI_BODY || *body == tell_ip("/lw/x"),
            "unexpected {body:?}"
        );
    }
}

#[test]
fn tutorial_scripts_verify() {
    let services = Services::start();
    let mut vars = services.env();
    vars.push(("PORT".into(), free_port().to_string()));
    vars.push(("UPSTREAM".into(), services.hi.port().to_string()));
    vars.push(("LOG".into(), services.echo.port().to_string()));
    let mut mains: Vec<(String, Option<String>)> = vec![
        ("03-proxy.js".into(), None),
        ("04-routing.js".into(), None),
        ("06-plugins/proxy.js".into(), None),
        ("07-load-balancing/proxy.js".into(), None),
    ];
    for config in [
        "proxy",
        "proxy-log",
        "proxy-ban",
        "proxy-throttle",
        "proxy-cache",
        "proxy-static",
        "proxy-transform",
        "proxy-advanced",
    ] {
        mains.push((
            "gateway/proxy.js".into(),
            Some(format!("config/{config}.json")),
        ));
    }
    for (main, config) in mains {
        let path = script(&format!("tutorials/{main}"));
        let path_text = path.to_string_lossy().into_owned();
        let mut envs: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Some(config) = &config {
            envs.push(("PROXY_CONFIG", config));
        }
        let run = run_cli(&["--verify", &path_text], &envs);
        assert_eq!(run.code(), 0, "{main} {config:?}: {run:?}");
    }
}
