//! Daemon worker processes: one SO_REUSEPORT socket per slot, spread of connections,
//! supervision (respawn, back-off), workers dying with the master, privilege drop.

mod common;
#[path = "daemon_common/mod.rs"]
mod daemon_common;
mod mock;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use daemon_common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn debug_log() -> Vec<String> {
    vec!["--log-level=debug".to_string()]
}

#[test]
fn spawn_3_runs_4_workers_on_4_sockets_and_spreads_connections() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 3,
        script: reply_script(port, 1),
        args: debug_log(),
        ..Launch::default()
    });
    daemon.wait_serving(port, 4);
    assert_eq!(
        listening_sockets(port).len(),
        4,
        "{:?}",
        listening_sockets(port)
    );

    let workers = daemon
        .workers()
        .iter()
        .map(|p| p.as_raw())
        .collect::<HashSet<_>>();
    let started = daemon
        .started_workers()
        .iter()
        .map(|w| (w.slot, w.pid))
        .collect::<HashSet<_>>();
    assert_eq!(
        started.iter().map(|&(_, pid)| pid).collect::<HashSet<_>>(),
        workers,
        "children of the master are the workers it logged"
    );
    assert_eq!(
        started
            .iter()
            .map(|&(slot, _)| slot)
            .collect::<HashSet<_>>(),
        (0..4).collect::<HashSet<_>>()
    );

    // Fresh connections hash over the 4 sockets; 200 make missing a worker vanishingly rare.
    let mut spread = false;
    for batch in 0..10 {
        for _ in 0..20 {
            let reply = http_get(port, "/").expect("request");
            assert_eq!(reply.body, marker(1));
        }
        if daemon.pids_that_accepted() == workers {
            spread = true;
            eprintln!("all workers accepted within {} requests", (batch + 1) * 20);
            break;
        }
    }
    assert!(
        poll_until(Duration::from_secs(2), || spread
            || daemon.pids_that_accepted() == workers),
        "connections not spread over all workers {workers:?}: {:?}",
        daemon.pids_that_accepted()
    );
}

#[test]
fn killed_worker_is_replaced_within_a_second_and_others_are_unaffected() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 3,
        script: reply_script(port, 1),
        args: debug_log(),
        ..Launch::default()
    });
    daemon.wait_serving(port, 4);

    // Keep-alive connections, each known to be held by one worker.
    let mut connections = Vec::new();
    for _ in 0..24 {
        let mut client = KeepAliveClient::connect(port).expect("connect");
        let reply = client.get("/").expect("first request");
        assert_eq!(reply.body, marker(1));
        let worker = daemon.wait_worker_that_accepted(client.client_port());
        connections.push((worker, client));
    }
    let held_by = connections.iter().map(|(w, _)| *w).collect::<HashSet<_>>();
    assert!(held_by.len() >= 2, "all connections on one worker");

    let victim = Pid::from_raw(connections[0].0);
    kill(victim, Signal::SIGKILL).expect("kill worker");
    let killed_at = Instant::now();
    let replaced = poll_until(Duration::from_secs(1), || {
        let now = daemon.workers();
        now.len() == 4 && !now.contains(&victim)
    });
    assert!(
        replaced,
        "no replacement after {:?}: {:?}",
        killed_at.elapsed(),
        daemon.workers()
    );
    let replacement = daemon
        .workers()
        .into_iter()
        .find(|w| !held_by.contains(&w.as_raw()))
        .expect("a new worker");
    assert_eq!(daemon.generation_of(replacement), Some(1));

    // Connections held by the other workers go on as if nothing happened.
    for (worker, client) in connections
        .iter_mut()
        .filter(|(w, _)| *w != victim.as_raw())
    {
        let reply = client
            .get("/")
            .unwrap_or_else(|e| panic!("connection held by {worker} broken: {e}"));
        assert_eq!(reply.body, marker(1));
    }
    // Fresh connections all succeed, including those hashed to the replaced slot.
    for _ in 0..40 {
        let reply = http_get(port, "/").expect("request after kill");
        assert_eq!(reply.body, marker(1));
    }
    let victim_tag = format!("pid {victim})");
    assert!(
        daemon
            .log()
            .lines()
            .any(|l| l.contains(&victim_tag) && l.contains("unexpectedly")),
        "exit of {victim} not logged"
    );
}

#[test]
fn workers_exit_when_the_master_dies() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 1,
        script: reply_script(port, 1),
        ..Launch::default()
    });
    daemon.wait_serving(port, 2);
    let workers = daemon.workers();
    daemon.signal(Signal::SIGKILL);
    let gone = poll_until(Duration::from_secs(3), || {
        !workers.iter().any(|&w| is_running(w))
    });
    assert!(gone, "workers outlived the master");
}

#[test]
fn worker_that_keeps_dying_on_start_up_is_respawned_with_back_off() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        script: reply_script(port, 1),
        ..Launch::default()
    });
    daemon.wait_serving(port, 1);

    // Kill each new worker as soon as it appears (well within its first second): the master
    // respawns after 0, 0.5, 1, 2 s.
    let mut seen = HashSet::new();
    let mut killed_at = Vec::new();
    let mut appeared_at = Vec::new();
    for round in 0..5 {
        let mut fresh = None;
        let appeared = poll_until(Duration::from_secs(5), || {
            fresh = daemon.workers().into_iter().find(|w| !seen.contains(w));
            fresh.is_some()
        });
        assert!(appeared, "no respawn in round {round}");
        let worker = fresh.expect("a fresh worker appeared");
        appeared_at.push(Instant::now());
        seen.insert(worker);
        if round == 4 {
            break;
        }
        kill(worker, Signal::SIGKILL).expect("kill worker");
        killed_at.push(Instant::now());
    }
    // Gap between a kill and the next worker; polling adds up to ~10 ms.
    let gaps = killed_at
        .iter()
        .zip(&appeared_at[1..])
        .map(|(k, a)| a.duration_since(*k))
        .collect::<Vec<_>>();
    eprintln!("respawn gaps: {gaps:?}");
    // Expected delays 0, 0.5, 1, 2 s; if the first worker lived over a second before its kill,
    // its death does not count as quick and the series is 0, 0, 0.5, 1 s.
    assert!(gaps[0] < Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(450), "{gaps:?}");
    assert!(
        gaps[3] >= gaps[2] + Duration::from_millis(400),
        "back-off did not double: {gaps:?}"
    );
    assert!(gaps[3] < Duration::from_millis(2500), "{gaps:?}");
    assert!(daemon.logged("keeps dying on start-up"), "{}", daemon.log());
    // The last one is left alive and serves.
    daemon.wait_serving(port, 1);
}

#[test]
fn workers_drop_to_the_user_given_when_master_is_root() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        eprintln!("skipped: no user nobody");
        return;
    };
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 1,
        script: reply_script(port, 1),
        args: vec!["--user=nobody".to_string()],
        ..Launch::default()
    });
    daemon.wait_serving(port, 2);
    for worker in daemon.workers() {
        let status = std::fs::read_to_string(format!("/proc/{worker}/status")).expect("status");
        let uid_line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .expect("Uid line");
        let effective = uid_line.split_whitespace().nth(2).expect("euid");
        assert_eq!(effective, nobody.uid.to_string(), "{uid_line}");
    }
    let master_status =
        std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).expect("status");
    assert!(
        master_status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")),
        "master keeps root to bind and signal"
    );
}

/// Voluntary context switches of `pid` so far (each one a sleep and a wake-up).
fn voluntary_switches(pid: Pid) -> u64 {
    let pid = u32::try_from(pid.as_raw()).expect("pids are positive");
    common::proc_status_number(pid, "voluntary_ctxt_switches").unwrap_or(0)
}

/// A worker with no connection has nothing to time out, so it sleeps until something happens
/// instead of waking every 100 ms for the socket-timeout sweep (10 wake-ups a second per idle
/// worker before).
#[test]
fn idle_worker_does_not_wake_up() {
    let port = free_port();
    let daemon = Daemon::start(Launch {
        spawn: 0,
        script: reply_script(port, 1),
        ..Launch::default()
    });
    // Serves (so the sweep has been armed for a connection), then is left alone.
    daemon.wait_serving(port, 1);
    let worker = daemon.workers()[0];
    // The sweep pending for the closed connections runs once more, within its 100 ms period.
    let mut last = voluntary_switches(worker);
    let settled = poll_until(Duration::from_secs(3), || {
        std::thread::sleep(Duration::from_millis(250));
        let now = voluntary_switches(worker);
        std::mem::replace(&mut last, now) == now
    });
    assert!(
        settled,
        "the worker kept waking up after its connections closed"
    );
    let before = voluntary_switches(worker);
    std::thread::sleep(Duration::from_secs(1));
    let woken = voluntary_switches(worker) - before;
    assert_eq!(woken, 0, "an idle worker woke up {woken} times in a second");
    assert!(
        http_get(port, "/").is_ok(),
        "still serving after the quiet second"
    );
}
