//! HUP reloads: zero failed requests under load, generations, broken scripts, requests in
//! flight, removed ports.

mod common;
#[path = "daemon_common/mod.rs"]
mod daemon_common;
mod mock;

use std::io::BufReader;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daemon_common::*;
use nix::sys::signal::Signal;

const CLIENT_THREADS: usize = 8;
const RELOADS: u64 = 20;

#[derive(Default)]
struct LoadStats {
    requests: AtomicU64,
    failures: AtomicU64,
    /// Replies from a generation older than the last reload announced complete (`READY=1`,
    /// "reload complete: generation N serving") when the request started.
    stale_replies: AtomicU64,
}

/// Sets the flag when dropped, so client threads stop even when an assertion fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn twenty_reloads_under_load_lose_no_request() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 1,
        script: reply_script(port, 1),
        notify: true,
        ..Launch::default()
    });
    daemon.expect_notification("READY=1", START_TIMEOUT);
    let workers = 2;

    let stop = Arc::new(AtomicBool::new(false));
    let _stop_clients = StopOnDrop(Arc::clone(&stop));
    // The oldest generation allowed to answer a request that starts now: that of the last
    // reload announced complete.
    let min_generation = Arc::new(AtomicU64::new(1));
    let stats = Arc::new(LoadStats::default());
    let clients = (0..CLIENT_THREADS)
        .map(|_| {
            let (stop, min_generation, stats) = (
                Arc::clone(&stop),
                Arc::clone(&min_generation),
                Arc::clone(&stats),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let oldest_allowed = min_generation.load(Ordering::SeqCst);
                    stats.requests.fetch_add(1, Ordering::Relaxed);
                    match http_get(port, "/") {
                        Ok(reply) => match reply.generation() {
                            Some(g) if g >= oldest_allowed => {}
                            Some(_) => {
                                eprintln!(
                                    "stale reply {reply:?}, expected gen >= {oldest_allowed}"
                                );
                                stats.stale_replies.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {
                                eprintln!("unexpected reply {reply:?}");
                                stats.failures.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Err(e) => {
                            eprintln!("request failed: {e}");
                            stats.failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect::<Vec<_>>();

    let started = Instant::now();
    for reload in 1..=RELOADS {
        let generation = reload + 1;
        daemon.write_script(&reply_script(port, generation));
        daemon.signal(Signal::SIGHUP);
        daemon.expect_notification("RELOADING=1", START_TIMEOUT);
        let ready = daemon.expect_notification("READY=1", START_TIMEOUT);
        assert!(
            ready.contains(&format!("generation {generation}")),
            "{ready}"
        );
        assert!(daemon.logged(&format!("reload complete: generation {generation} serving")));
        min_generation.store(generation, Ordering::SeqCst);
        let old_gone = poll_until(START_TIMEOUT, || {
            let now = daemon.workers();
            now.len() == workers
                && now
                    .iter()
                    .all(|&w| daemon.generation_of(w) == Some(generation))
        });
        assert!(
            old_gone,
            "old workers still running after reload {reload}: {:?}",
            daemon.workers()
        );
    }
    let reloading_took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().expect("client thread");
    }

    let requests = stats.requests.load(Ordering::Relaxed);
    let failures = stats.failures.load(Ordering::Relaxed);
    let stale = stats.stale_replies.load(Ordering::Relaxed);
    eprintln!("{requests} requests during {RELOADS} reloads in {reloading_took:?}");
    assert!(
        failures == 0 && stale == 0,
        "out of {requests} requests: {failures} failed, {stale} answered by a generation older \
         than the last reload announced complete when the request started"
    );
    assert!(requests > 100, "too little load: {requests} requests");
    let last = http_get(port, "/").expect("final request");
    assert_eq!(last.generation(), Some(RELOADS + 1));
    // Every retired worker drained and exited by itself.
    let log = daemon.log();
    assert!(!log.contains("did not quit"), "{log}");
    assert!(!log.contains("unexpectedly"), "{log}");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("exited with status 0"))
            .count() as u64,
        RELOADS * workers as u64,
        "{log}"
    );
}

#[test]
fn broken_script_on_hup_keeps_the_old_generation_serving() {
    let port = free_port();
    let mut daemon = Daemon::start(Launch {
        spawn: 1,
        script: reply_script(port, 1),
        notify: true,
        ..Launch::default()
    });
    daemon.expect_notification("READY=1", START_TIMEOUT);
    let mut workers = daemon.workers();
    workers.sort();

    daemon.write_script(&broken_script(port));
    daemon.signal(Signal::SIGHUP);
    daemon.expect_notification("RELOADING=1", START_TIMEOUT);
    let ready = daemon.expect_notification("READY=1", START_TIMEOUT);
    assert!(ready.contains("STATUS=reload failed: "), "{ready}");
    let log = daemon.log();
    let failure = log
        .lines()
        .find(|l| l.contains("reload failed: "))
        .unwrap_or_else(|| panic!("reload failure not logged\n{log}"));
    assert!(
        failure.contains(&format!("{SCRIPT_NAME}:")),
        "error does not name the script: {failure}"
    );
    assert!(failure.contains("generation 1 keeps serving"), "{failure}");

    assert!(daemon.master_alive(), "master died");
    for _ in 0..10 {
        let reply = http_get(port, "/").expect("old generation serves");
        assert_eq!(reply.generation(), Some(1));
    }
    let mut now = daemon.workers();
    now.sort();
    assert_eq!(now, workers, "workers changed after a failed reload");

    daemon.write_script(&reply_script(port, 2));
    daemon.signal(Signal::SIGHUP);
    daemon.expect_notification("RELOADING=1", START_TIMEOUT);
    let ready = daemon.expect_notification("READY=1", START_TIMEOUT);
    assert!(ready.contains("generation 2"), "{ready}");
    let reply = http_get(port, "/").expect("new generation serves");
    assert_eq!(reply.generation(), Some(2));
}

#[test]
fn long_request_in_flight_during_reload_completes() {
    const BACKEND_DELAY: Duration = Duration::from_secs(3);
    let upstream = slow_upstream(BACKEND_DELAY);
    let (port, proxy_port) = two_free_ports();
    let daemon = Daemon::start(Launch {
        script: proxy_script(port, proxy_port, upstream.port(), 1),
        notify: true,
        ..Launch::default()
    });
    daemon.expect_notification("READY=1", START_TIMEOUT);
    let old_worker = daemon.workers();

    // Keep-alive, so the draining worker must also mark the response `connection: close`.
    let slow = send_request(proxy_port, "/slow", Connection::KeepAlive).expect("send");
    assert!(
        upstream.wait_requests(1, Duration::from_secs(5)),
        "request reached the backend"
    );

    daemon.write_script(&proxy_script(port, proxy_port, upstream.port(), 2));
    daemon.signal(Signal::SIGHUP);
    daemon.expect_notification("RELOADING=1", START_TIMEOUT);
    daemon.expect_notification("READY=1", START_TIMEOUT);
    // The new generation serves while the old worker still holds the long request.
    assert_eq!(
        http_get(port, "/")
            .expect("request after reload")
            .generation(),
        Some(2)
    );
    assert!(
        old_worker.iter().all(|&w| is_running(w)),
        "old worker exited with a request in flight"
    );

    let reply = read_response(&mut BufReader::new(slow), Connection::KeepAlive)
        .expect("long request completes");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, SLOW_BODY);
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "response of a draining worker on a keep-alive connection: {reply:?}"
    );
    assert!(
        poll_until(Duration::from_secs(5), || old_worker
            .iter()
            .all(|&w| !is_running(w))),
        "old worker did not exit after its last request"
    );
}

#[test]
fn removed_port_closes_after_the_old_generation_exits() {
    let (kept, removed) = two_free_ports();
    let two_ports = format!(
        "pipy()\n.listen({kept})\n.serveHTTP(() => new Message('{}'))\n\
         .listen({removed})\n.serveHTTP(() => new Message('removed'))\n",
        marker(1)
    );
    let daemon = Daemon::start(Launch {
        spawn: 1,
        script: two_ports,
        notify: true,
        ..Launch::default()
    });
    daemon.expect_notification("READY=1", START_TIMEOUT);
    assert_eq!(listening_sockets(removed).len(), 2);
    assert_eq!(http_get(removed, "/").expect("second port").body, "removed");

    daemon.write_script(&reply_script(kept, 2));
    daemon.signal(Signal::SIGHUP);
    daemon.expect_notification("READY=1", START_TIMEOUT);
    assert!(
        poll_until(Duration::from_secs(5), || listening_sockets(removed)
            .is_empty()),
        "removed port still listening: {:?}",
        listening_sockets(removed)
    );
    assert_eq!(listening_sockets(kept).len(), 2);
    assert_eq!(
        http_get(kept, "/").expect("kept port").generation(),
        Some(2)
    );
}
