//! Daemon start-up, stop, pid file, `--signal`, and systemd notifications.

mod common;
#[path = "daemon_common/mod.rs"]
mod daemon_common;
mod mock;

use std::io::BufReader;
use std::time::{Duration, Instant};

use daemon_common::*;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// A daemon proxying to an upstream that answers after `upstream_delay`, with one request
/// in flight (the upstream has received it).
struct InFlight {
    daemon: Daemon,
    /// The port of the proxied script's plain listener (`proxy_script`'s first port).
    port: u16,
    request: std::net::TcpStream,
    /// Bind it (`_upstream`, not `..`) in a test: dropping it cuts the request in flight.
    _upstream: Backend,
}

/// Starts it with `spawn` + 1 workers (none with `--single-process`) and extra `args`.
fn with_request_in_flight(
    upstream_delay: Duration,
    spawn: usize,
    args: &[&str],
    pid_file: bool,
) -> InFlight {
    let upstream = slow_upstream(upstream_delay);
    let (port, proxy_port) = two_free_ports();
    let daemon = Daemon::start(Launch {
        spawn,
        script: proxy_script(port, proxy_port, upstream.port(), 1),
        args: args.iter().map(|a| a.to_string()).collect(),
        pid_file,
        ..Launch::default()
    });
    let workers = if args.contains(&"--single-process") {
        0
    } else {
        spawn + 1
    };
    daemon.wait_serving(port, workers);
    let request = send_request(proxy_port, "/slow", Connection::Close).expect("send");
    assert!(
        upstream.wait_requests(1, Duration::from_secs(5)),
        "request reached the backend"
    );
    InFlight {
        daemon,
        port,
        request,
        _upstream: upstream,
    }
}

/// The in-flight request gets its full answer.
fn expect_answered(request: std::net::TcpStream) {
    let reply = read_response(&mut BufReader::new(request), Connection::Close)
        .expect("in-flight request completes");
    assert_eq!((reply.status, reply.body.as_str()), (200, SLOW_BODY));
}

#[test]
fn term_drains_exits_0_and_removes_the_pid_file() {
    const DRAIN: Duration = Duration::from_secs(5);
    let InFlight {
        mut daemon,
        port,
        request,
        _upstream,
        ..
    } = with_request_in_flight(
        Duration::from_secs(1),
        1,
        &[&format!("--drain-timeout={}", DRAIN.as_secs())],
        true,
    );
    let pid_file = pid_file_of(&daemon).to_path_buf();
    assert!(poll_until(START_TIMEOUT, || pid_file.exists()));
    let written = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(written, format!("{}\n", daemon.pid()));
    let workers = daemon.workers();

    // A request in flight when TERM arrives is answered before the workers exit.
    let stopped_at = Instant::now();
    daemon.signal(Signal::SIGTERM);
    expect_answered(request);

    let status = daemon.wait_exit(DRAIN).expect("master exits");
    eprintln!("stopped in {:?}", stopped_at.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(!pid_file.exists(), "pid file left behind");
    assert!(
        workers.iter().all(|&w| !is_running(w)),
        "worker outlived the master"
    );
    assert!(listening_sockets(port).is_empty());
}

#[test]
fn second_term_during_graceful_stop_stops_at_once() {
    let InFlight {
        mut daemon,
        _upstream,
        ..
    } = with_request_in_flight(Duration::from_secs(20), 0, &["--drain-timeout=30"], false);
    let started = Instant::now();
    daemon.signal(Signal::SIGTERM);
    assert!(poll_until(Duration::from_secs(5), || daemon
        .logged("stopping: draining")));
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("master exits");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn term_with_a_hung_request_stops_after_the_drain_timeout() {
    let InFlight {
        mut daemon,
        _upstream,
        ..
    } = with_request_in_flight(Duration::from_secs(20), 0, &["--drain-timeout=1"], false);
    let workers = daemon.workers();
    let started = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(4))
        .expect("master exits soon after the drain timeout");
    eprintln!("stopped in {:?}", started.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(workers.iter().all(|&w| !is_running(w)));
}

/// QUIT does not wait for in-flight requests (TERM would, for up to the drain timeout).
#[test]
fn quit_stops_immediately() {
    let InFlight {
        mut daemon,
        request,
        _upstream,
        ..
    } = with_request_in_flight(Duration::from_secs(20), 1, &["--drain-timeout=30"], false);
    let workers = daemon.workers();
    let started = Instant::now();
    daemon.signal(Signal::SIGQUIT);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("master exits");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(workers.iter().all(|&w| !is_running(w)));
    assert!(
        read_response(&mut BufReader::new(request), Connection::Close).is_err(),
        "the in-flight request was cut off, not answered"
    );
}

/// Without a master (`--single-process`) the worker itself drains on TERM and exits 0 once the
/// request in flight is answered.
#[test]
fn single_process_term_drains_the_request_in_flight() {
    let InFlight {
        mut daemon,
        request,
        _upstream,
        ..
    } = with_request_in_flight(Duration::from_secs(1), 0, &["--single-process"], false);
    daemon.signal(Signal::SIGTERM);
    expect_answered(request);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("process exits");
    assert_eq!(status.code(), Some(0));
    assert!(daemon.logged("stop signal, draining"), "{}", daemon.log());
}

/// `--single-process`: a second TERM while draining exits at once.
#[test]
fn single_process_second_term_stops_at_once() {
    let InFlight {
        mut daemon,
        _upstream,
        ..
    } = with_request_in_flight(Duration::from_secs(20), 0, &["--single-process"], false);
    let started = Instant::now();
    daemon.signal(Signal::SIGTERM);
    assert!(poll_until(Duration::from_secs(5), || daemon
        .logged("stop signal, draining")));
    daemon.signal(Signal::SIGTERM);
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("process exits");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(daemon.logged("second stop signal, exiting now"));
}

#[test]
fn notifications_come_in_order() {
    let port = free_port();
    let mut daemon = Daemon::start(Launch {
        spawn: 1,
        script: reply_script(port, 1),
        notify: true,
        ..Launch::default()
    });
    let wait = START_TIMEOUT;
    let mut messages = Vec::new();
    messages.push(daemon.next_notification(wait).expect("first"));
    // READY=1 means serving.
    assert_eq!(http_get(port, "/").expect("request").generation(), Some(1));
    daemon.write_script(&reply_script(port, 2));
    daemon.signal(Signal::SIGHUP);
    messages.push(daemon.next_notification(wait).expect("second"));
    messages.push(daemon.next_notification(wait).expect("third"));
    assert_eq!(http_get(port, "/").expect("request").generation(), Some(2));
    daemon.signal(Signal::SIGTERM);
    messages.push(daemon.next_notification(wait).expect("fourth"));
    assert_eq!(daemon.wait_exit(wait).and_then(|s| s.code()), Some(0));
    assert_eq!(
        daemon.next_notification(Duration::from_millis(100)),
        None,
        "nothing after STOPPING=1"
    );

    let firsts = messages
        .iter()
        .map(|m| m.lines().next().unwrap_or(""))
        .collect::<Vec<_>>();
    assert_eq!(firsts, ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]);
    assert!(
        messages[0].contains(&format!("MAINPID={}", daemon.pid())),
        "{}",
        messages[0]
    );
    let monotonic = messages[1]
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {:?}", messages[1]));
    assert!(
        monotonic.parse::<u64>().is_ok_and(|us| us > 0),
        "{monotonic}"
    );
}

#[test]
fn live_pid_file_refuses_start() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        script: reply_script(port, 1),
        pid_file: true,
        ..Launch::default()
    });
    // A second daemon pointed at the first one's pid file must not start.
    let pid_file = pid_file_of(&daemon).to_path_buf();
    assert!(poll_until(START_TIMEOUT, || pid_file.exists()));

    let second_port = free_port();
    let mut second = Daemon::start(Launch {
        script: reply_script(second_port, 1),
        args: vec![format!("--pid-file={}", pid_file.display())],
        ..Launch::default()
    });
    let status = second
        .wait_exit(Duration::from_secs(5))
        .expect("second exits");
    assert_eq!(status.code(), Some(1));
    assert!(second.logged("names running process"), "{}", second.log());
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file"),
        format!("{}\n", daemon.pid())
    );
}

#[test]
fn broken_script_at_start_exits_1_without_binding() {
    for (what, script) in [
        ("syntax error", broken_script as fn(u16) -> String),
        (
            "unknown pipeline after listen",
            unknown_pipeline_after_listen,
        ),
    ] {
        let port = free_port();
        // Held without SO_REUSEPORT: a master that bound before finding the error would log a
        // bind failure instead of the script's error.
        let _held = std::net::TcpListener::bind(("0.0.0.0", port)).expect("hold the port");
        let mut daemon = Daemon::start(Launch {
            script: script(port),
            ..Launch::default()
        });
        let status = daemon.wait_exit(Duration::from_secs(5)).expect("exits");
        assert_eq!(status.code(), Some(1), "{what}");
        let log = daemon.log();
        let located = log.lines().any(|l| {
            l.split_once(&format!("{SCRIPT_NAME}:"))
                .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
        });
        assert!(located, "{what}: error without file:line\n{log}");
        assert!(!log.contains("in use"), "{what}: tried to bind\n{log}");
    }
}

/// Evaluates `listen` first, then fails when the pipeline names are resolved.
fn unknown_pipeline_after_listen(port: u16) -> String {
    format!("pipy()\n.listen({port})\n.link('missing')\n")
}

#[test]
fn signal_command_reloads_and_stops_through_the_pid_file() {
    let port = free_port();
    let mut daemon = Daemon::start(Launch {
        script: reply_script(port, 1),
        pid_file: true,
        notify: true,
        ..Launch::default()
    });
    daemon.expect_notification("READY=1", START_TIMEOUT);
    let pid_file = pid_file_of(&daemon).to_path_buf();
    assert!(poll_until(START_TIMEOUT, || pid_file.exists()));

    daemon.write_script(&reply_script(port, 2));
    let status = std::process::Command::new(PIPY)
        .arg("--signal=reload")
        .arg(format!("--pid-file={}", pid_file.display()))
        .status()
        .expect("run --signal=reload");
    assert!(status.success());
    daemon.expect_notification("RELOADING=1", START_TIMEOUT);
    daemon.expect_notification("READY=1", START_TIMEOUT);
    assert_eq!(http_get(port, "/").expect("request").generation(), Some(2));

    let status = std::process::Command::new(PIPY)
        .arg("--signal=stop")
        .arg(format!("--pid-file={}", pid_file.display()))
        .status()
        .expect("run --signal=stop");
    assert!(status.success());
    daemon.expect_notification("STOPPING=1", START_TIMEOUT);
    let exit = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("master exits");
    assert_eq!(exit.code(), Some(0));
    assert!(!pid_file.exists());

    // With the daemon gone, the command fails instead of signalling a stranger.
    let status = std::process::Command::new(PIPY)
        .arg("--signal=reload")
        .arg(format!("--pid-file={}", pid_file.display()))
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run --signal=reload");
    assert!(!status.success());
}

/// `timeout`, a shell's job control or `kill -TERM -PGID` send TERM to every process of the
/// group: workers must drain like the master asks them to, not die with requests in flight.
/// (Workers ignore TERM; a forked worker once kept TERM's default action and died.)
#[test]
fn term_to_the_whole_process_group_drains_workers() {
    term_every_process_while_a_request_is_in_flight(TermOrder::WorkersFirst);
}

/// The master's drain command can reach a worker before the worker's own TERM does (the CI run
/// that found this sent them microseconds apart). That TERM is the same stop, not a second one:
/// the worker must keep draining instead of exiting with the request in flight.
#[test]
fn term_reaching_a_worker_after_the_masters_drain_command_still_drains() {
    term_every_process_while_a_request_is_in_flight(TermOrder::MasterFirstThenWorkers);
}

enum TermOrder {
    WorkersFirst,
    /// The master first; the workers once each has logged the master's drain command.
    MasterFirstThenWorkers,
}

fn term_every_process_while_a_request_is_in_flight(order: TermOrder) {
    const DRAIN: Duration = Duration::from_secs(5);
    let InFlight {
        mut daemon,
        request,
        _upstream,
        ..
    } = with_request_in_flight(
        Duration::from_secs(1),
        1,
        &[&format!("--drain-timeout={}", DRAIN.as_secs())],
        false,
    );
    let workers = daemon.workers();
    let term = |pid: Pid| {
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    };
    match order {
        TermOrder::WorkersFirst => {
            for &w in workers.iter().chain(std::iter::once(&daemon.pid())) {
                term(w);
            }
        }
        TermOrder::MasterFirstThenWorkers => {
            term(daemon.pid());
            assert!(
                poll_until(Duration::from_secs(5), || {
                    workers.iter().all(|w| {
                        daemon.logged(&format!("pid {w}] draining"))
                            || daemon.logged(&format!("pid {w}] drained"))
                    })
                }),
                "workers never logged the drain command:\n{}",
                daemon.log()
            );
            for &w in &workers {
                term(w);
            }
        }
    }
    expect_answered(request);
    let status = daemon.wait_exit(DRAIN).expect("master exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        !daemon.logged("killed by SIGTERM"),
        "a worker died of SIGTERM instead of draining:\n{}",
        daemon.log()
    );
}
