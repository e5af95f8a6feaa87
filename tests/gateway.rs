//! Acceptance, the bundled example `examples/gateway/` (what `make run` serves): its mock services
//! and the plugin gateway in front of them. The example uses fixed ports (8000, 8080–8082); the
//! tests run a copy with those numbers replaced by free ports.

mod common;

use common::*;
use std::path::Path;

/// The example directory.
fn example_dir() -> std::path::PathBuf {
    repo_root().join("examples").join("gateway")
}

/// The example's ports and the free ports standing in for them.
struct Ports {
    gateway: u16,
    hi: u16,
    echo: u16,
    ip: u16,
}

impl Ports {
    fn pick() -> Ports {
        Ports {
            gateway: free_port(),
            hi: free_port(),
            echo: free_port(),
            ip: free_port(),
        }
    }

    fn rewrite(&self, text: &str) -> String {
        text.replace("8000", &self.gateway.to_string())
            .replace("8080", &self.hi.to_string())
            .replace("8081", &self.echo.to_string())
            .replace("8082", &self.ip.to_string())
    }
}

/// Copies the `.js` and `.json` files of `from` into `to`, rewriting the ports.
fn copy_example(from: &Path, to: &Path, ports: &Ports) {
    for entry in std::fs::read_dir(from).expect("read example dir").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("create dir");
            copy_example(&path, &target, ports);
        } else if path.extension().is_some_and(|e| e == "js" || e == "json") {
            let text = std::fs::read_to_string(&path).expect("read example file");
            std::fs::write(&target, ports.rewrite(&text)).expect("write example copy");
        }
    }
}

/// The example running on free ports: mock services and gateway.
struct Example {
    _dir: TempDir,
    _mock: Pipy,
    _gateway: Pipy,
    ports: Ports,
}

fn start_example() -> Example {
    start_example_with(&[])
}

/// The example, with `gateway_args` before the gateway's script.
fn start_example_with(gateway_args: &[&str]) -> Example {
    let ports = Ports::pick();
    let dir = TempDir::new("gateway-example");
    copy_example(&example_dir(), dir.path(), &ports);
    let mock_script = dir.path().join("mock.js").to_string_lossy().into_owned();
    let mut mock = Pipy::spawn(&[&mock_script], &[]);
    for port in [ports.hi, ports.echo, ports.ip] {
        mock.wait_port(port);
    }
    let gateway_script = dir.path().join("proxy.js").to_string_lossy().into_owned();
    let mut args = gateway_args.to_vec();
    args.push(&gateway_script);
    let mut gateway = Pipy::spawn(&args, &[]);
    gateway.wait_port(ports.gateway);
    Example {
        _dir: dir,
        _mock: mock,
        _gateway: gateway,
        ports,
    }
}

fn tell_ip(path: &str) -> String {
    format!("You are requesting {path} from 127.0.0.1\n")
}

#[test]
fn example_scripts_verify() {
    for name in ["proxy.js", "mock.js"] {
        let path = example_dir().join(name);
        let run = run_cli(&["--verify", &path.to_string_lossy()], &[]);
        assert_eq!(run.code(), 0, "{name}: {run:?}");
    }
}

#[test]
fn mock_services_answer_like_tutorial_02() {
    let example = start_example();
    let ports = &example.ports;
    assert_bytes_eq(&http_get(ports.hi, "/anything").raw, HELLO_RESPONSE);
    let echoed = Conn::open(ports.echo).roundtrip(&request("POST", "/", &[], b"hello"));
    assert_eq!(echoed.text(), "hello");
    assert_eq!(http_get(ports.ip, "/where").text(), tell_ip("/where"));
}

#[test]
fn gateway_routes_balances_rewrites_and_falls_back_to_404() {
    routes_balances_rewrites_and_falls_back(&start_example());
}

/// The same conversation with every callback in the engine: the compiled callbacks
/// (src/js/pure/callback.rs) must not change a byte.
#[test]
fn gateway_answers_the_same_with_no_native_callbacks() {
    routes_balances_rewrites_and_falls_back(&start_example_with(&["--no-native-callbacks"]));
}

fn routes_balances_rewrites_and_falls_back(example: &Example) {
    let port = example.ports.gateway;

    // Round robin per connection; a connection keeps its target.
    let mut picks = Vec::new();
    for _ in 0..3 {
        let mut conn = Conn::open(port);
        let first = conn.roundtrip(&get("/hi")).text();
        let second = conn.roundtrip(&get("/hi")).text();
        assert_eq!(first, second, "one connection, one target");
        assert!(
            first == "Hi, there!\n" || first == tell_ip("/hi"),
            "unexpected {first:?}"
        );
        picks.push(first);
    }
    assert_ne!(picks[0], picks[1], "{picks:?}");
    assert_eq!(picks[0], picks[2], "{picks:?}");

    let mut conn = Conn::open(port);
    let echoed = conn.roundtrip(&request("POST", "/echo", &[], b"hello"));
    assert_eq!(echoed.text(), "hello");
    assert_eq!(
        conn.roundtrip(&get("/ip/some/path")).text(),
        tell_ip("/some/path")
    );
    assert_eq!(conn.roundtrip(&get("/ip")).text(), tell_ip("/"));
    let missing = conn.roundtrip(&get("/unknown"));
    assert_bytes_eq(
        &missing.raw,
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\nNo handler",
    );
}

/// Makes `requests` requests to `/hi` on one client connection, closes it, and returns the
/// number of script calls the gateway's worker had made when it logged the close (its debug
/// log names the connection by the client's address).
fn hi_connection(example: &Example, requests: usize) -> u64 {
    let mut conn = Conn::open(example.ports.gateway);
    let mark = format!("from {} closed, js-calls=", conn.local_addr());
    for _ in 0..requests {
        let reply = conn.roundtrip(&get("/hi/there")).text();
        assert!(
            reply == "Hi, there!\n" || reply == tell_ip("/hi/there"),
            "{reply:?}"
        );
    }
    drop(conn);
    let gateway = &example._gateway;
    assert!(
        gateway.stderr_contains(&mark, IO_TIMEOUT),
        "{}",
        gateway.stderr()
    );
    let text = gateway.stderr();
    text.split(&mark)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count after {mark:?}: {text}"))
}

/// Natively, a request on a kept-alive connection runs no script call at all: the router's and
/// the balancer's `handleMessageStart`, `use`'s turn-down checks, `link`'s condition and the
/// muxHTTP key are all compiled. Only the connection's session start and end, and its first
/// request (a cache miss that calls the allocator), run in the engine. With
/// `--no-native-callbacks` each further request costs those seven calls.
#[test]
fn gateway_requests_on_a_kept_alive_connection_make_no_script_calls() {
    for (args, per_request) in [
        (vec!["--log-level=debug"], 0),
        (vec!["--log-level=debug", "--no-native-callbacks"], 7),
    ] {
        let example = start_example_with(&args);
        let gateway = &example._gateway;
        // `use`'s turn-down check in proxy.js is the last callback the load compiles.
        assert!(gateway.stderr_contains("proxy.js:19:7: callback runs ", IO_TIMEOUT));
        let log = gateway.stderr();
        for line in [
            "plugins/router.js:28:22: callback runs natively",
            "plugins/balancer.js:38:22: callback runs natively",
            "proxy.js:19:7: callback runs natively",
        ] {
            assert_eq!(
                log.contains(line),
                per_request == 0,
                "{args:?}: {line}\n{log}"
            );
        }
        // The plugin chains and the balancer's link run inline (`engine::plan`) either way:
        // the request chain is three gates, the router's filter, the balancer's filter, its
        // link's chooser and `muxHTTP`, and the 404 fallback's `replaceMessage`.
        for line in [
            "plugins/balancer.js: pipeline request: link runs inline, as 2 filters",
            "proxy.js: pipeline request: use runs inline, as 8 filters",
            "]: use runs inline, as 2 filters",
        ] {
            assert!(log.contains(line), "{args:?}: {line}\n{log}");
        }
        // Two connections warm up the upstream sessions of both targets (the balancer picks
        // round robin per connection, and a new upstream connection calls `connect`'s target
        // callback); then one with one request and one with five.
        let at_close: Vec<u64> = [1, 1, 1, 5]
            .into_iter()
            .map(|requests| hi_connection(&example, requests))
            .collect();
        let one = at_close[2] - at_close[1];
        let five = at_close[3] - at_close[2];
        assert_eq!(
            five - one,
            4 * per_request,
            "{args:?}: {one} and {five}\n{}",
            gateway.stderr()
        );
    }
}

#[test]
fn run_script_starts_and_stops_the_mock_services_with_the_gateway() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let ports = Ports::pick();
    let dir = TempDir::new("gateway-run");
    copy_example(&example_dir(), dir.path(), &ports);
    let run_sh = std::fs::read_to_string(example_dir().join("run.sh")).expect("read run.sh");
    let run_path = dir.write("run.sh", &ports.rewrite(&run_sh));
    let mut child = Command::new("sh")
        .arg(&run_path)
        .arg(PIPY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start run.sh");
    let pgid = child.id() as libc::pid_t;
    let up = poll_until(START_TIMEOUT, || {
        [ports.gateway, ports.hi, ports.echo, ports.ip]
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
    });
    if !up {
        // SAFETY: signals the process group we created; no memory involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
        panic!("run.sh did not bring up the gateway and the mock services");
    }
    let proxied = http_get(ports.gateway, "/hi/x");
    assert_eq!(proxied.status, 200, "{proxied:?}");
    assert!(
        proxied.text() == "Hi, there!\n" || proxied.text() == tell_ip("/hi/x"),
        "{proxied:?}"
    );

    // When the gateway ends (Ctrl-C, or it fails), the script's trap stops the mock services.
    let gateway = child_running(child.id(), "proxy.js").expect("gateway process under run.sh");
    // SAFETY: signals the gateway master started by run.sh; no memory involved.
    unsafe { libc::kill(gateway as libc::pid_t, libc::SIGTERM) };
    let stopped = poll_until(Duration::from_secs(15), || {
        std::net::TcpStream::connect(("127.0.0.1", ports.hi)).is_err()
    });
    // SAFETY: as above, clean up whatever is left of the group.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
    assert!(
        stopped,
        "mock services still running after run.sh was stopped"
    );
}

/// A child process of `parent` whose command line mentions `needle`.
fn child_running(parent: u32, needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid: u32 = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (ppid == parent && String::from_utf8_lossy(&cmdline).contains(needle)).then_some(pid)
        })
}
