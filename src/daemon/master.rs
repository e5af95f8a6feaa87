//! The master cycle: one single-threaded loop that waits on the signal self-pipe, the workers'
//! control channels and the nearest timer, then acts on signal flags, control messages, exited
//! children and due timers, in that order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::backoff::RespawnBackoff;
use super::control::{ControlMessage, MasterControl};
use super::listeners::ReusePortListeners;
use super::logging::{LogRole, set_log_role};
use super::notify::Notifier;
use super::pidfile::{self, PidFile};
use super::privileges::Credentials;
use super::signals::{MasterSignal, MasterSignals};
use super::spawn::{WorkerSpec, spawn_worker};
use super::{DaemonOptions, Program, ScriptLoader};

/// Token of the signal self-pipe; workers' control channels use 0, 1, 2, ...
const SIGNAL_TOKEN: Token = Token(usize::MAX);
/// Longest poll wait: a safety net that reaps children even if a SIGCHLD wake-up were lost.
const MAX_POLL_WAIT: Duration = Duration::from_secs(1);
/// How long a worker told to quit has before SIGKILL.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// The master cycle; returns the process exit code. `loader.load()` runs once before binding
/// (failure: the error is logged and 1 returned without binding anything) and again on each
/// SIGHUP.
pub fn run_master(opts: DaemonOptions, loader: &mut dyn ScriptLoader) -> i32 {
    set_log_role(LogRole::Master);
    match Master::start(opts, loader) {
        Ok(mut master) => master.run(),
        Err(message) => {
            log::error!("{message}");
            1
        }
    }
}

/// An evaluated script and the addresses it listens on.
struct Generation {
    program: Box<dyn Program>,
    addresses: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerState {
    /// Forked, not yet reported ready.
    Starting,
    /// Reported ready.
    Serving,
    /// Told to drain (told to quit at `quit_at`); `acked` once it reported that it stopped accepting.
    Draining { quit_at: Instant, acked: bool },
    /// Told to quit; killed at the deadline.
    Quitting { kill_at: Instant },
    /// Sent SIGKILL; waiting to reap it.
    Killed,
}

impl WorkerState {
    /// Whether the master asked this worker to go (so its exit is expected).
    fn is_retiring(self) -> bool {
        !matches!(self, WorkerState::Starting | WorkerState::Serving)
    }
}

struct Worker {
    slot: usize,
    generation: u64,
    pid: Pid,
    /// `None` once the worker closed its end.
    control: Option<MasterControl>,
    started: Instant,
    state: WorkerState,
}

impl fmt::Display for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worker {} (generation {}, pid {})",
            self.slot, self.generation, self.pid
        )
    }
}

struct PendingRespawn {
    slot: usize,
    generation: u64,
    at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopMode {
    Graceful,
    Immediate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Stopping(StopMode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadyCause {
    Startup,
    Reload,
}

/// A generation whose readiness is still to be announced to the service manager.
#[derive(Debug, Clone, Copy)]
struct ReadyWait {
    generation: u64,
    cause: ReadyCause,
}

/// How a worker ended.
enum ExitStatus {
    Code(i32),
    Signal(Signal),
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signal(signal) => write!(f, "was killed by {signal}"),
        }
    }
}

struct Master<'l> {
    loader: &'l mut dyn ScriptLoader,
    slots: usize,
    drain_timeout: Duration,
    credentials: Option<Credentials>,
    /// Held for its Drop, which removes the file.
    pid_file: Option<PidFile>,
    poll: Poll,
    signals: MasterSignals,
    notifier: Notifier,
    listeners: ReusePortListeners,
    generations: BTreeMap<u64, Generation>,
    current: u64,
    workers: HashMap<Token, Worker>,
    next_token: usize,
    respawns: Vec<PendingRespawn>,
    backoff: Vec<RespawnBackoff>,
    phase: Phase,
    awaiting_ready: Option<ReadyWait>,
    exit_code: i32,
}

impl<'l> Master<'l> {
    /// Checks, evaluates, binds, forks the first generation and writes the pid file.
    fn start(opts: DaemonOptions, loader: &'l mut dyn ScriptLoader) -> Result<Self, String> {
        let slots = opts.workers.max(1);
        if let Some(path) = &opts.pid_file {
            pidfile::check_not_running(path)?;
        }
        let credentials = Credentials::resolve(opts.user.as_deref(), opts.group.as_deref())?;
        let mut signals =
            MasterSignals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
        poll.registry()
            .register(signals.wake_source(), SIGNAL_TOKEN, Interest::READABLE)
            .map_err(|e| format!("cannot register signal pipe: {e}"))?;
        let mut master = Master {
            loader,
            slots,
            drain_timeout: opts.drain_timeout,
            credentials,
            pid_file: None,
            poll,
            signals,
            notifier: Notifier::from_env(),
            listeners: ReusePortListeners::new(slots),
            generations: BTreeMap::new(),
            current: 0,
            workers: HashMap::new(),
            next_token: 0,
            respawns: Vec::new(),
            backoff: vec![RespawnBackoff::default(); slots],
            phase: Phase::Running,
            awaiting_ready: None,
            exit_code: 0,
        };
        // Evaluated and bound before anything is forked: a broken script binds nothing.
        master.start_generation(ReadyCause::Startup)?;
        if let Some(path) = &opts.pid_file {
            match PidFile::write(path) {
                Ok(file) => master.pid_file = Some(file),
                Err(message) => {
                    log::error!("{message}");
                    master.exit_code = 1;
                    master.begin_stop(StopMode::Immediate);
                }
            }
        }
        Ok(master)
    }

    fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(64);
        loop {
            if self.phase != Phase::Running && self.workers.is_empty() {
                log::info!("all workers exited; master exits");
                return self.exit_code;
            }
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                log::error!("poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            for event in events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => self.signals.drain_wake_pipe(),
                    token => self.read_control(token),
                }
            }
            for signal in self.signals.take() {
                self.on_signal(signal);
            }
            self.reap_children();
            self.run_timers(Instant::now());
        }
    }

    fn on_signal(&mut self, signal: MasterSignal) {
        match (signal, self.phase) {
            // Children are reaped on every turn of the loop.
            (MasterSignal::ChildExited, _) => {}
            (MasterSignal::Reload, Phase::Running) => self.reload(),
            (MasterSignal::Reload, Phase::Stopping(_)) => {
                log::info!("reload ignored: stopping");
            }
            (MasterSignal::GracefulStop, Phase::Running) => self.begin_stop(StopMode::Graceful),
            (MasterSignal::GracefulStop, Phase::Stopping(StopMode::Graceful)) => {
                log::info!("second stop signal: stopping immediately");
                self.begin_stop(StopMode::Immediate);
            }
            (MasterSignal::ImmediateStop, Phase::Running | Phase::Stopping(StopMode::Graceful)) => {
                self.begin_stop(StopMode::Immediate);
            }
            (_, Phase::Stopping(StopMode::Immediate)) => {}
        }
    }

    /// Evaluates the script again and starts a new generation next to the running one; the old
    /// workers drain slot by slot as their successors report ready (see `on_ready`).
    fn reload(&mut self) {
        log::info!("reloading");
        self.notifier.reloading();
        if let Err(message) = self.start_generation(ReadyCause::Reload) {
            return self.reload_failed(&message);
        }
        // The new generation fills every slot; older respawns are obsolete.
        self.respawns.clear();
        self.collect_garbage();
    }

    /// Evaluates the script, binds the ports it adds and forks a worker per slot of the next
    /// generation, whose readiness is then awaited. Nothing is forked if evaluation or binding
    /// fails.
    fn start_generation(&mut self, cause: ReadyCause) -> Result<(), String> {
        let program = self.loader.load()?;
        let addresses = dedup(program.listen_addrs());
        self.listeners.bind_missing(&addresses)?;
        let generation = self.current + 1;
        self.generations
            .insert(generation, Generation { program, addresses });
        self.current = generation;
        self.awaiting_ready = Some(ReadyWait { generation, cause });
        if cause == ReadyCause::Startup {
            log::info!("starting {} workers", self.slots);
        }
        for slot in 0..self.slots {
            self.spawn(slot, generation);
        }
        Ok(())
    }

    fn reload_failed(&mut self, message: &str) {
        log::error!(
            "reload failed: {message}; generation {} keeps serving",
            self.current
        );
        self.notifier.ready(&format!("reload failed: {message}"));
    }

    fn begin_stop(&mut self, mode: StopMode) {
        if self.phase == Phase::Running {
            self.notifier.stopping();
        }
        self.phase = Phase::Stopping(mode);
        self.respawns.clear();
        self.awaiting_ready = None;
        let now = Instant::now();
        let tokens = self.workers.keys().copied().collect::<Vec<_>>();
        match mode {
            StopMode::Graceful => {
                log::info!("stopping: draining {} workers", tokens.len());
                for token in tokens {
                    self.drain(token, now);
                }
            }
            StopMode::Immediate => {
                log::info!("stopping immediately: {} workers", tokens.len());
                for token in tokens {
                    self.quit(token, now);
                }
            }
        }
    }

    fn spawn(&mut self, slot: usize, generation: u64) {
        let Some(program) = self.generations.get(&generation) else {
            return;
        };
        let mut master_fds = self.listeners.all_fds();
        master_fds.extend(self.signals.fds());
        master_fds.push(self.poll.as_raw_fd());
        master_fds.extend(
            self.workers
                .values()
                .filter_map(|w| w.control.as_ref().map(MasterControl::raw_fd)),
        );
        let spec = WorkerSpec {
            slot,
            generation,
            program: program.program.as_ref(),
            listeners: self.listeners.slot_fds(slot, &program.addresses),
            master_fds,
            credentials: self.credentials.as_ref(),
        };
        let (pid, mut control) = match spawn_worker(spec) {
            Ok(spawned) => spawned,
            Err(e) => {
                log::error!("cannot fork worker {slot}: {e}");
                let delay = self.backoff[slot].next_delay(Duration::ZERO);
                self.respawns.push(PendingRespawn {
                    slot,
                    generation,
                    at: Instant::now() + delay.max(Duration::from_millis(100)),
                });
                return;
            }
        };
        let token = Token(self.next_token);
        self.next_token += 1;
        let mut worker = Worker {
            slot,
            generation,
            pid,
            control: None,
            started: Instant::now(),
            state: WorkerState::Starting,
        };
        match self
            .poll
            .registry()
            .register(control.source(), token, Interest::READABLE)
        {
            Ok(()) => worker.control = Some(control),
            Err(e) => {
                // Without its channel the worker can never report ready: replace it.
                log::error!("cannot register control channel of {worker}: {e}");
                let _ = kill(pid, Signal::SIGKILL);
                worker.state = WorkerState::Killed;
            }
        }
        log::info!("started {worker}");
        self.workers.insert(token, worker);
    }

    fn read_control(&mut self, token: Token) {
        let Some(worker) = self.workers.get_mut(&token) else {
            return;
        };
        let Some(control) = worker.control.as_mut() else {
            return;
        };
        let inbox = control.read_pending();
        if inbox.closed {
            let _ = self.poll.registry().deregister(control.source());
            worker.control = None;
        }
        for message in inbox.messages {
            match message {
                ControlMessage::Ready => self.on_ready(token),
                ControlMessage::Draining => self.on_draining(token),
                other => log::warn!("unexpected {other:?} on a control channel"),
            }
        }
    }

    /// A worker serves: retire the older workers of its slot and, once the whole generation
    /// serves, tell the service manager.
    fn on_ready(&mut self, token: Token) {
        let Some(worker) = self.workers.get_mut(&token) else {
            return;
        };
        if worker.state != WorkerState::Starting {
            return;
        }
        worker.state = WorkerState::Serving;
        let (slot, generation) = (worker.slot, worker.generation);
        log::info!("{worker} ready");
        let now = Instant::now();
        let older = self
            .workers
            .iter()
            .filter(|(_, w)| w.slot == slot && w.generation < generation && !w.state.is_retiring())
            .map(|(&t, _)| t)
            .collect::<Vec<_>>();
        for old in older {
            self.drain(old, now);
        }
        self.respawns
            .retain(|r| !(r.slot == slot && r.generation < generation));
        self.announce_if_generation_ready();
    }

    /// An old worker stopped accepting: the reload may now be complete.
    fn on_draining(&mut self, token: Token) {
        if let Some(worker) = self.workers.get_mut(&token)
            && let WorkerState::Draining { acked, .. } = &mut worker.state
        {
            *acked = true;
        }
        self.announce_if_generation_ready();
    }

    fn announce_if_generation_ready(&mut self) {
        let Some(wait) = self.awaiting_ready else {
            return;
        };
        // Until every older worker has stopped accepting, a new connection may still land on
        // the old generation: the reload is not complete yet.
        let old_accepting = self.workers.values().any(|w| {
            w.generation < wait.generation
                && matches!(w.state, WorkerState::Draining { acked: false, .. })
        });
        if old_accepting {
            return;
        }
        let serving = self
            .workers
            .values()
            .filter(|w| w.generation == wait.generation && w.state == WorkerState::Serving)
            .map(|w| w.slot)
            .collect::<HashSet<_>>();
        if serving.len() < self.slots {
            return;
        }
        self.awaiting_ready = None;
        match wait.cause {
            ReadyCause::Startup => log::info!("all {} workers serving", self.slots),
            ReadyCause::Reload => {
                log::info!("reload complete: generation {} serving", wait.generation)
            }
        }
        self.notifier
            .ready(&format!("serving generation {}", wait.generation));
    }

    fn drain(&mut self, token: Token, now: Instant) {
        let drain_timeout = self.drain_timeout;
        let Some(worker) = self.workers.get_mut(&token) else {
            return;
        };
        if worker.state.is_retiring() {
            return;
        }
        log::info!("draining {worker}");
        send(worker, ControlMessage::Drain);
        worker.state = WorkerState::Draining {
            quit_at: now + drain_timeout,
            acked: false,
        };
    }

    fn quit(&mut self, token: Token, now: Instant) {
        let Some(worker) = self.workers.get_mut(&token) else {
            return;
        };
        if matches!(
            worker.state,
            WorkerState::Quitting { .. } | WorkerState::Killed
        ) {
            return;
        }
        send(worker, ControlMessage::Quit);
        worker.state = WorkerState::Quitting {
            kill_at: now + QUIT_GRACE,
        };
    }

    fn reap_children(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, signal, _core_dumped)) => {
                    self.on_exit(pid, ExitStatus::Signal(signal))
                }
                Ok(WaitStatus::StillAlive) => return,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                // ECHILD: no children left.
                Err(_) => return,
            }
        }
    }

    fn on_exit(&mut self, pid: Pid, status: ExitStatus) {
        let Some(token) = self
            .workers
            .iter()
            .find(|(_, w)| w.pid == pid)
            .map(|(&t, _)| t)
        else {
            log::debug!("reaped unknown child {pid}: {status}");
            return;
        };
        let Some(mut worker) = self.workers.remove(&token) else {
            return;
        };
        if let Some(control) = worker.control.as_mut() {
            let _ = self.poll.registry().deregister(control.source());
        }
        if worker.state.is_retiring() {
            log::info!("{worker} {status}");
            // An old worker that exited before acknowledging no longer holds the reload up.
            self.announce_if_generation_ready();
        } else {
            let lived = worker.started.elapsed();
            log::warn!(
                "{worker} {status} unexpectedly after {:.3} s",
                lived.as_secs_f64()
            );
            if self.phase == Phase::Running && self.should_respawn(&worker) {
                let delay = self.backoff[worker.slot].next_delay(lived);
                if delay.is_zero() {
                    self.spawn(worker.slot, worker.generation);
                } else {
                    log::warn!(
                        "worker {} keeps dying on start-up; respawning in {:.1} s",
                        worker.slot,
                        delay.as_secs_f64()
                    );
                    self.respawns.push(PendingRespawn {
                        slot: worker.slot,
                        generation: worker.generation,
                        at: Instant::now() + delay,
                    });
                }
            }
        }
        self.collect_garbage();
    }

    /// A dead worker is replaced (with its own generation's program) unless a newer generation
    /// already serves its slot.
    fn should_respawn(&self, dead: &Worker) -> bool {
        dead.generation == self.current
            || !self.workers.values().any(|w| {
                w.slot == dead.slot
                    && w.generation > dead.generation
                    && w.state == WorkerState::Serving
            })
    }

    fn run_timers(&mut self, now: Instant) {
        if self.phase == Phase::Running {
            let (due, later) = std::mem::take(&mut self.respawns)
                .into_iter()
                .partition::<Vec<_>, _>(|r| r.at <= now);
            self.respawns = later;
            for respawn in due {
                self.spawn(respawn.slot, respawn.generation);
            }
        }
        let expired = self
            .workers
            .iter()
            .filter_map(|(&token, w)| match w.state {
                WorkerState::Draining { quit_at, .. } if quit_at <= now => Some(token),
                WorkerState::Quitting { kill_at } if kill_at <= now => Some(token),
                _ => None,
            })
            .collect::<Vec<_>>();
        for token in expired {
            let Some(worker) = self.workers.get_mut(&token) else {
                continue;
            };
            match worker.state {
                WorkerState::Draining { .. } => {
                    log::warn!(
                        "{worker} still draining after {:.1} s; telling it to quit",
                        self.drain_timeout.as_secs_f64()
                    );
                    self.quit(token, now);
                }
                _ => {
                    log::warn!("{worker} did not quit; killing it");
                    let _ = kill(worker.pid, Signal::SIGKILL);
                    worker.state = WorkerState::Killed;
                }
            }
        }
    }

    fn poll_timeout(&self, now: Instant) -> Duration {
        let worker_deadlines = self.workers.values().filter_map(|w| match w.state {
            WorkerState::Draining { quit_at, .. } => Some(quit_at),
            WorkerState::Quitting { kill_at } => Some(kill_at),
            _ => None,
        });
        let respawn_deadlines = self.respawns.iter().map(|r| r.at);
        worker_deadlines
            .chain(respawn_deadlines)
            .min()
            .map_or(MAX_POLL_WAIT, |deadline| {
                deadline.saturating_duration_since(now).min(MAX_POLL_WAIT)
            })
    }

    /// Drops programs of generations with no worker left, then closes listeners no remaining
    /// generation listens on.
    fn collect_garbage(&mut self) {
        let mut live = self
            .workers
            .values()
            .map(|w| w.generation)
            .chain(self.respawns.iter().map(|r| r.generation))
            .collect::<HashSet<_>>();
        live.insert(self.current);
        self.generations.retain(|generation, _| {
            let keep = live.contains(generation);
            if !keep {
                log::info!("generation {generation} retired");
            }
            keep
        });
        let in_use = self
            .generations
            .values()
            .flat_map(|g| g.addresses.iter().copied())
            .collect::<HashSet<_>>();
        self.listeners.retain(&in_use);
    }
}

/// Sends a message to a worker; failure means the worker is already gone, which its exit status
/// will tell.
fn send(worker: &mut Worker, message: ControlMessage) {
    let pid = worker.pid;
    if let Some(control) = worker.control.as_mut()
        && let Err(e) = control.send(message)
    {
        log::debug!("cannot send {message:?} to pid {pid}: {e}");
    }
}

fn dedup(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = HashSet::new();
    addresses.into_iter().filter(|a| seen.insert(*a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_first_occurrence_order() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "[::1]:2".parse().expect("addr");
        assert_eq!(dedup(vec![a, b, a, b]), vec![a, b]);
    }

    #[test]
    fn retiring_states() {
        assert!(!WorkerState::Starting.is_retiring());
        assert!(!WorkerState::Serving.is_retiring());
        assert!(WorkerState::Killed.is_retiring());
    }

    struct FailingLoader;

    impl ScriptLoader for FailingLoader {
        fn load(&mut self) -> Result<Box<dyn Program>, String> {
            Err("hello.js:3:7: SyntaxError: unexpected token".to_string())
        }
    }

    #[test]
    fn load_failure_exits_1_without_binding() {
        assert_eq!(run_master(DaemonOptions::default(), &mut FailingLoader), 1);
    }
}
