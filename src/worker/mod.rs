//! A worker: one single-threaded mio event loop running the pipeline graph on its listening sockets.

pub mod busy_poll;
pub mod control;
pub mod core;
pub mod heap;
pub mod timers;

use self::control::{Command, ControlPort};
use self::core::{CONTROL_TOKEN, Core, LISTENER_TOKEN_BASE, Phase, SWEEP_INTERVAL, TimerTarget};
use crate::engine::context::InboundInfo;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::Signal;
use crate::engine::graph::{Graph, TaskSchedule};
use crate::engine::head::Head;
use crate::engine::pipeline::{PipelineId, Sink};
use crate::js::runtime::JsRuntime;
use crate::net::conn::{Conn, ConnState, ReadTarget, Role};
use crate::net::listener::{ACCEPT_RETRY, AcceptFailure, Accepting, Listener, queued_connections};
use crate::net::options::{READ_BUDGET, READ_CHUNK};
use crate::net::recv_lowat;
use mio::{Events, Interest, Token};
use std::cell::OnceCell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether accepted sockets inherit `TCP_NODELAY` from the listening socket, which
/// `daemon::listeners::bind_one` sets (Linux and FreeBSD copy it; elsewhere it is set per
/// connection).
const NODELAY_INHERITED: bool = cfg!(any(target_os = "linux", target_os = "freebsd"));

/// Token of the self-pipe that signal handlers write to.
const SIGNAL_TOKEN: usize = (1 << 40) - 2;
/// Signals the master uses for its own control; a worker cannot take them for tasks.
const MASTER_SIGNALS: [i32; 5] = [
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGCHLD,
];

/// What a signal the worker handles makes it do.
#[derive(Clone, Copy, Debug)]
enum OnSignal {
    /// Drain (without a master only); a second one exits at once.
    Stop,
    /// Run `task(signal)` number i.
    Task(usize),
}

pub struct Worker {
    core: Core,
    control: Option<Box<dyn ControlPort>>,
    /// Signals this worker handles itself, each with the flag its handler sets.
    signals: Vec<(OnSignal, Arc<AtomicBool>)>,
    /// The self-pipe the handlers write to: read end polled, write end handed to handlers.
    signal_pipe: Option<(mio::net::UnixStream, std::os::unix::net::UnixStream)>,
    /// Shared sessions were told to end (last step of a drain).
    shared_drained: bool,
}

impl Worker {
    /// Registers the listeners (already bound, e.g. by the master) and prepares tasks.
    pub fn new(
        graph: Rc<Graph>,
        js: JsRuntime,
        listeners: Vec<(SocketAddr, std::net::TcpListener)>,
        control: Option<Box<dyn ControlPort>>,
    ) -> std::io::Result<Worker> {
        let poll = mio::Poll::new()?;
        let mut core = Core::new(graph.clone(), js, poll);
        for (addr, l) in listeners {
            let Some(spec) = graph.listens.iter().find(|s| s.addr == addr) else {
                continue;
            };
            l.set_nonblocking(true)?;
            let mut socket = mio::net::TcpListener::from_std(l);
            let i = core.listeners.len();
            core.poll.registry().register(
                &mut socket,
                Token(LISTENER_TOKEN_BASE + i),
                Interest::READABLE,
            )?;
            log::info!("Listening on port {} at {}", addr.port(), addr.ip());
            core.listeners.push(Listener {
                addr,
                socket,
                layout: spec.layout,
                max_connections: spec.options.max_connections,
                socket_options: Rc::new(spec.options.socket.clone()),
                active: 0,
                accepting: Accepting::Open,
                starved_since: None,
                retry_armed: false,
            });
        }
        let w = Worker {
            core,
            control,
            signals: Vec::new(),
            signal_pipe: None,
            shared_drained: false,
        };
        if let Some(c) = &w.control {
            let fd = c.fd();
            w.core.poll.registry().register(
                &mut mio::unix::SourceFd(&fd),
                Token(CONTROL_TOKEN),
                Interest::READABLE,
            )?;
        }
        Ok(w)
    }

    /// Drains on these signals, and exits at the second one. Only without a master: under a
    /// master, workers ignore TERM and INT (the master drains them, see
    /// `daemon::signals::reset_in_worker`).
    pub fn handle_stop_signals(&mut self, signals: &[i32]) -> std::io::Result<()> {
        for &sig in signals {
            self.on_signal(sig, OnSignal::Stop)?;
        }
        Ok(())
    }

    /// Sets `action` to run whenever this process receives `sig`, through a flag and the
    /// worker's self-pipe.
    fn on_signal(&mut self, sig: i32, action: OnSignal) -> std::io::Result<()> {
        if self.signal_pipe.is_none() {
            let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
            rx.set_nonblocking(true)?;
            tx.set_nonblocking(true)?;
            let mut rx = mio::net::UnixStream::from_std(rx);
            self.core
                .poll
                .registry()
                .register(&mut rx, Token(SIGNAL_TOKEN), Interest::READABLE)?;
            self.signal_pipe = Some((rx, tx));
        }
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(sig, flag.clone())?;
        if let Some((_, tx)) = &self.signal_pipe {
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
        }
        self.signals.push((action, flag));
        Ok(())
    }

    /// The self-pipe woke the loop: acts on every signal that arrived. `Some(code)`: exit now.
    fn signals_arrived(&mut self) -> Option<i32> {
        if let Some((rx, _)) = &mut self.signal_pipe {
            let mut b = [0u8; 64];
            while matches!(std::io::Read::read(rx, &mut b), Ok(n) if n > 0) {}
        }
        let fired: Vec<OnSignal> = self
            .signals
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(a, _)| *a)
            .collect();
        for action in fired {
            match action {
                OnSignal::Stop if self.core.is_draining() => {
                    log::info!("second stop signal, exiting now");
                    return Some(0);
                }
                OnSignal::Stop => {
                    log::info!("stop signal, draining");
                    self.start_drain();
                }
                OnSignal::Task(i) => self.run_task(i),
            }
        }
        None
    }

    /// Runs until drained or told to quit; returns the exit code.
    pub fn run(mut self) -> i32 {
        heap::tune();
        self.start_tasks();
        if let Some(c) = &mut self.control
            && let Err(e) = c.ready()
        {
            log::error!("cannot report ready to the master: {e}");
            return 1;
        }
        let mut events = Events::with_capacity(1024);
        let mut expired = Vec::new();
        // Sockets to read again this turn; swapped with `core.to_read` so neither buffer is
        // reallocated per turn.
        let mut pending: Vec<usize> = Vec::new();
        let mut busy_poll = busy_poll::BusyPoll::new(Instant::now());
        loop {
            self.core.run_queue();
            self.core.flush_dirty();
            if self.core.is_draining() && self.core.inbound_count() == 0 {
                // Sessions shared across requests (log shippers, pools) end last so that what
                // they hold is delivered; the master's drain timeout bounds the wait.
                if !self.shared_drained {
                    self.shared_drained = true;
                    self.core.drain_shared();
                    continue;
                }
                if self.core.shared_count() == 0 {
                    log::info!("drained, exiting");
                    return 0;
                }
            }
            let now = Instant::now();
            let timeout = if self.core.to_read.is_empty() {
                busy_poll.timeout(now, self.core.timers.next_timeout(now))
            } else {
                // Sockets left to read: look for new events without waiting, still working.
                Some(Duration::ZERO)
            };
            if let Err(e) = self.core.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("poll failed: {e}");
                return 1;
            }
            self.core.now = Instant::now();
            if !events.is_empty() {
                busy_poll.saw_events(self.core.now);
            }
            for ev in events.iter() {
                let t = ev.token().0;
                if t >= LISTENER_TOKEN_BASE {
                    self.accept(t - LISTENER_TOKEN_BASE);
                } else if t == CONTROL_TOKEN {
                    if let Some(code) = self.control_readable() {
                        return code;
                    }
                } else if t == SIGNAL_TOKEN {
                    if let Some(code) = self.signals_arrived() {
                        return code;
                    }
                } else {
                    if ev.is_writable() {
                        self.writable(t);
                    }
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        // A short read means the socket is drained (a later arrival is a new
                        // edge), saving the EAGAIN read per request; a FIN is only seen by
                        // reading on, so then read to the end.
                        self.read(t, ev.is_read_closed() || ev.is_error());
                    }
                }
                self.core.run_queue();
            }
            std::mem::swap(&mut pending, &mut self.core.to_read);
            for &s in &pending {
                self.read(s, true);
                self.core.run_queue();
            }
            pending.clear();
            expired.clear();
            self.core.timers.expired(Instant::now(), &mut expired);
            for t in expired.drain(..) {
                self.timer(t);
                self.core.run_queue();
            }
        }
    }

    fn start_drain(&mut self) {
        if self.core.is_draining() {
            return;
        }
        self.core.phase = Phase::Draining;
        for l in &mut self.core.listeners {
            l.accepting = Accepting::Closed;
            let _ = self.core.poll.registry().deregister(&mut l.socket);
        }
        // Connections the kernel already queued on our socket are taken by the next generation
        // worker of this slot: the socket stays open in the master.
        if let Some(c) = &mut self.control
            && let Err(e) = c.draining()
        {
            log::warn!("cannot acknowledge the drain: {e}");
        }
        self.core.drain_inbound();
    }

    /// Handles master commands; `Some(code)` means exit now.
    fn control_readable(&mut self) -> Option<i32> {
        loop {
            let cmd = match self.control.as_mut()?.poll_command() {
                Ok(Some(c)) => c,
                Ok(None) => return None,
                Err(e) => {
                    log::info!("master gone ({e}), exiting");
                    return Some(0);
                }
            };
            match cmd {
                Command::Drain => {
                    log::info!("draining");
                    self.start_drain();
                }
                Command::Quit => {
                    log::info!("quit");
                    return Some(0);
                }
            }
        }
    }

    fn accept(&mut self, li: usize) {
        // Connections known to wait behind the next one (`queued_connections`), so that the
        // loop stops when the queue is empty instead of finding out with a failing `accept`.
        let mut known_queued = 0;
        loop {
            let Some(l) = self.core.listeners.get_mut(li) else {
                return;
            };
            if l.accepting == Accepting::Closed {
                return;
            }
            if let Some(max) = l.max_connections
                && l.active >= max
            {
                l.accepting = Accepting::Full;
                let _ = self.core.poll.registry().deregister(&mut l.socket);
                return;
            }
            let (stream, peer) = match l.socket.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => match AcceptFailure::of(&e) {
                    AcceptFailure::ConnectionLost => {
                        log::debug!("accept on {}: {e}", l.addr);
                        continue;
                    }
                    AcceptFailure::OutOfResources | AcceptFailure::Other => {
                        self.accept_later(li, &e);
                        return;
                    }
                },
            };
            if let Some(since) = l.starved_since.take() {
                log::warn!(
                    "accepting on {} again after {} ms",
                    l.addr,
                    since.elapsed().as_millis()
                );
            }
            if !NODELAY_INHERITED {
                let _ = stream.set_nodelay(true);
            }
            l.active += 1;
            // A listener bound to one address and port is the local end of everything it
            // accepts; only a wildcard address needs asking which interface took it.
            let local = if l.addr.ip().is_unspecified() || l.addr.port() == 0 {
                stream.local_addr().unwrap_or(l.addr)
            } else {
                l.addr
            };
            let layout = l.layout;
            let opts = l.socket_options.clone();
            let id = self.core.next_conn_id();
            let placeholder = ReadTarget::Pipeline(PipelineId {
                index: u32::MAX,
                generation: 0,
            });
            let conn = Conn::new(
                stream,
                Role::Inbound { listener: li },
                placeholder,
                ConnState::Open,
                opts,
                id,
                peer,
            );
            let s = match self.core.add_conn(conn, Interest::READABLE) {
                Ok(s) => s,
                Err(e) => {
                    log::error!("cannot register connection: {e}");
                    if let Some(l) = self.core.listeners.get_mut(li) {
                        l.active -= 1;
                    }
                    continue;
                }
            };
            let info = Rc::new(InboundInfo {
                id,
                remote: peer,
                local,
                js: OnceCell::new(),
            });
            let ctx = self.core.new_root_context(Some(info));
            let p = self.core.spawn_pipeline(layout, ctx, Sink::Socket(s));
            if let Some(c) = self.core.conn(s) {
                c.reader = ReadTarget::Pipeline(p);
            }
            log::debug!("inbound #{id} from {peer}");
            self.core.input_now(p, Event::flush(), Some(s));
            if known_queued > 0 {
                known_queued -= 1;
            } else if let Some(l) = self.core.listeners.get(li) {
                match queued_connections(l.socket.as_raw_fd()) {
                    Some(0) => return,
                    Some(n) => known_queued = n - 1,
                    // Not known here: accept until the kernel says there is nothing more.
                    None => {}
                }
            }
            // No read yet: a client's first bytes mostly arrive after its connection is
            // accepted, so reading now would mostly return EAGAIN (one wasted syscall per
            // connection under churn). Registering an edge-triggered socket that already has
            // data queued reports it at the next poll, so nothing is missed either way.
        }
    }

    /// `accept` on listener `li` failed with `e` in a way that leaves its queue as it was:
    /// try again after [`ACCEPT_RETRY`]. Logged once per spell, not per attempt.
    fn accept_later(&mut self, li: usize, e: &std::io::Error) {
        let Some(l) = self.core.listeners.get_mut(li) else {
            return;
        };
        if l.starved_since.is_none() {
            log::error!(
                "accept on {} failed: {e}; trying again every {} ms",
                l.addr,
                ACCEPT_RETRY.as_millis()
            );
            l.starved_since = Some(Instant::now());
        }
        if !l.retry_armed {
            l.retry_armed = true;
            self.core.timers.arm(ACCEPT_RETRY, TimerTarget::Accept(li));
        }
    }

    fn writable(&mut self, s: usize) {
        let Some(c) = self.core.conn(s) else {
            return;
        };
        if c.state == ConnState::Connecting {
            let err = c.stream.take_error().ok().flatten();
            let connected = err.is_none() && c.stream.peer_addr().is_ok();
            if !connected {
                if err.is_none() {
                    // Spurious wakeup before the connect finished.
                    return;
                }
                log::debug!("connect #{} to {} failed: {:?}", c.id, c.peer, err);
                self.core.fail_conn(s, StreamError::ConnectionRefused);
                return;
            }
            c.state = ConnState::Open;
            c.last_write = Instant::now();
            if let ReadTarget::Filter {
                pipeline,
                filter,
                tag,
            } = c.reader
            {
                self.core
                    .signal(pipeline, filter, Signal::Connected { tag });
            }
        }
        self.core.flush_socket(s);
    }

    /// Reads socket `s` and delivers what it got; `to_end` reads until the kernel has nothing
    /// more, otherwise a short read ends the round.
    fn read(&mut self, s: usize, to_end: bool) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(c) = self.core.conns.get_mut(s).and_then(|c| c.as_mut()) else {
                return;
            };
            if c.paused || c.read_eof || c.state == ConnState::Connecting {
                return;
            }
            if budget == 0 {
                self.core.to_read.push(s);
                return;
            }
            let reader = c.reader;
            let res = c.read_once(&mut self.core.read_buf, READ_CHUNK, self.core.now);
            if c.state == ConnState::CloseAfterFlush
                && matches!(&res, Ok(Some((b, _))) if !b.is_empty())
            {
                // Its pipeline has ended: nothing will answer these bytes.
                c.unanswered_input = true;
            }
            if c.role == Role::Lingering {
                // Read and dropped until the client closes (see `Role::Lingering`).
                match res {
                    Ok(Some((b, _))) if !b.is_empty() => {
                        budget = budget.saturating_sub(b.len());
                        continue;
                    }
                    Ok(None) => return,
                    Ok(Some(_)) | Err(_) => return self.core.close_conn(s, StreamError::None),
                }
            }
            match res {
                Ok(None) => return,
                Ok(Some((b, _))) if b.is_empty() => {
                    c.read_eof = true;
                    let role = c.role;
                    match (role, reader) {
                        (Role::Inbound { .. }, ReadTarget::Pipeline(p)) => {
                            self.core
                                .input_now(p, Event::StreamEnd(StreamError::None), Some(s));
                        }
                        (
                            _,
                            ReadTarget::Filter {
                                pipeline,
                                filter,
                                tag,
                            },
                        ) => {
                            self.core.signal(
                                pipeline,
                                filter,
                                Signal::Socket {
                                    tag,
                                    event: Event::StreamEnd(StreamError::None),
                                },
                            );
                            // The peer is done; whatever we still have queued is flushed first.
                            if let Some(c) = self.core.conn(s) {
                                if c.wbuf.is_empty() {
                                    self.core.close_conn(s, StreamError::None);
                                } else {
                                    c.state = ConnState::CloseAfterFlush;
                                }
                            }
                            self.core.run_queue();
                        }
                        _ => {}
                    }
                    return;
                }
                Ok(Some((b, full))) => {
                    let n = b.len();
                    budget = budget.saturating_sub(n);
                    let ev = Event::Data(b);
                    match reader {
                        ReadTarget::Pipeline(p) => {
                            self.core.input_now(p, ev, Some(s));
                            self.adjust_recv_lowat(s, n);
                        }
                        ReadTarget::Filter {
                            pipeline,
                            filter,
                            tag,
                        } => {
                            let sig = Signal::Socket { tag, event: ev };
                            self.core.signal_from(s, pipeline, filter, sig);
                            self.core.run_queue();
                            self.adjust_recv_lowat(s, n);
                        }
                    }
                    self.core.flush_if_piled_up();
                    if !full && !to_end {
                        return;
                    }
                }
                Err(e) => {
                    let err = match e.kind() {
                        std::io::ErrorKind::ConnectionReset => StreamError::ConnectionReset,
                        std::io::ErrorKind::ConnectionRefused => StreamError::ConnectionRefused,
                        _ => StreamError::ReadError,
                    };
                    log::debug!("socket #{} read failed: {e}", c.id);
                    self.core.fail_conn(s, err);
                    return;
                }
            }
        }
    }

    /// Sets socket `s`'s receive low-water mark after a read of `n` bytes, from what its
    /// consumer expects next (`net::recv_lowat`), and arms the backstop when raising it.
    fn adjust_recv_lowat(&mut self, s: usize, n: usize) {
        let promised = self.core.take_expected_input(s);
        let Some(c) = self.core.conn(s) else {
            return;
        };
        let mark = recv_lowat::mark_after(n, promised);
        if mark != c.recv_lowat() {
            if c.recv_lowat() == recv_lowat::OFF {
                log::debug!("socket #{}: bulk input, low-water mark {mark} bytes", c.id);
            }
            c.set_recv_lowat(mark);
        }
        if c.recv_lowat() > recv_lowat::OFF && !c.lowat_backstop {
            c.lowat_backstop = true;
            let id = c.id;
            self.core.timers.arm(
                recv_lowat::BACKSTOP,
                TimerTarget::RecvLowat { socket: s, id },
            );
        }
    }

    /// The backstop of a receive low-water mark: a socket not read for `BACKSTOP` gets its mark
    /// back to one byte (the kernel then reports it readable if anything is queued).
    fn recv_lowat_backstop(&mut self, s: usize, id: u64) {
        let now = Instant::now();
        let Some(c) = self.core.conn(s) else {
            return;
        };
        if c.id != id {
            return;
        }
        c.lowat_backstop = false;
        if c.recv_lowat() == recv_lowat::OFF {
            return;
        }
        let idle = now.saturating_duration_since(c.last_read);
        if idle >= recv_lowat::BACKSTOP {
            log::debug!("socket #{}: input slowed down, low-water mark off", c.id);
            c.set_recv_lowat(recv_lowat::OFF);
        } else {
            c.lowat_backstop = true;
            self.core.timers.arm(
                recv_lowat::BACKSTOP - idle,
                TimerTarget::RecvLowat { socket: s, id },
            );
        }
    }

    fn timer(&mut self, t: TimerTarget) {
        match t {
            TimerTarget::Filter {
                pipeline,
                filter,
                tag,
            } => self.core.signal(pipeline, filter, Signal::Timer(tag)),
            TimerTarget::Task(i) => {
                self.run_task(i);
                if let Some(TaskSchedule::Every(d)) =
                    self.core.graph.tasks.get(i).map(|t| t.schedule.clone())
                {
                    self.core.timers.arm(d, TimerTarget::Task(i));
                }
            }
            TimerTarget::Sweep => {
                self.core.sweep_timeouts(Instant::now());
                // With no socket left there is nothing to time out: an idle worker sleeps
                // until something happens (`Core::add_conn` arms the sweep again).
                if self.core.conns.iter().any(Option::is_some) {
                    self.core.timers.arm(SWEEP_INTERVAL, TimerTarget::Sweep);
                } else {
                    self.core.sweep_armed = false;
                }
            }
            TimerTarget::Shared(id, tag) => self.core.shared_timer(id, tag),
            TimerTarget::RecvLowat { socket, id } => self.recv_lowat_backstop(socket, id),
            TimerTarget::Accept(li) => {
                let Some(l) = self.core.listeners.get_mut(li) else {
                    return;
                };
                l.retry_armed = false;
                if l.starved_since.is_some() {
                    // Still short, and `accept_later` arms the timer again.
                    self.accept(li);
                }
            }
        }
    }

    fn start_tasks(&mut self) {
        let graph = self.core.graph.clone();
        // `read(path)` pipelines: the file's bytes as Data chunks (each followed by a flush),
        // then StreamEnd; output discarded. Read in one go at start-up, before the tasks.
        for (layout, path) in &graph.reads {
            if path.file_name().is_some_and(|n| n == "-") {
                log::warn!("read('-'): reading standard input is not supported; pipeline ignored");
                continue;
            }
            let ctx = self.core.new_root_context(None);
            let p = self.core.spawn_pipeline(*layout, ctx, Sink::Discard);
            match std::fs::read(path) {
                Ok(bytes) => {
                    let bytes = bytes::Bytes::from(bytes);
                    let mut at = 0;
                    while at < bytes.len() {
                        let end = (at + READ_CHUNK).min(bytes.len());
                        self.core.send(p, Event::Data(bytes.slice(at..end).into()));
                        self.core.send(p, Event::flush());
                        at = end;
                    }
                    self.core.send(p, Event::StreamEnd(StreamError::None));
                }
                Err(e) => {
                    log::error!("read: cannot read {}: {e}", path.display());
                    self.core.send(p, Event::StreamEnd(StreamError::ReadError));
                }
            }
            // Not destroyed here: what it started (e.g. a connect) may outlive its input.
        }
        for (i, t) in graph.tasks.iter().enumerate() {
            match t.schedule {
                TaskSchedule::Once => self.run_task(i),
                TaskSchedule::Every(d) => {
                    self.run_task(i);
                    self.core.timers.arm(d, TimerTarget::Task(i));
                }
                TaskSchedule::Signal(sig) => {
                    if let Err(e) = self.register_task_signal(i, sig) {
                        log::warn!("task on signal {sig} not installed: {e}");
                    }
                }
            }
        }
        self.core.run_queue();
    }

    /// Runs task `i` whenever this worker receives `sig`.
    fn register_task_signal(&mut self, i: usize, sig: i32) -> std::io::Result<()> {
        if MASTER_SIGNALS.contains(&sig) && self.control.is_some() {
            return Err(std::io::Error::other(
                "the master handles this signal (reload/stop); use another one",
            ));
        }
        self.on_signal(sig, OnSignal::Task(i))
    }

    fn run_task(&mut self, i: usize) {
        let graph = self.core.graph.clone();
        let Some(spec) = graph.tasks.get(i) else {
            return;
        };
        if self.core.tasks[i].running {
            return;
        }
        self.core.tasks[i].running = true;
        let ctx = self.core.new_root_context(None);
        let p = self.core.spawn_pipeline(spec.layout, ctx, Sink::Task(i));
        self.core.send(p, Event::MessageStart(Head::null()));
        self.core.send(p, Event::MessageEnd);
    }
}
