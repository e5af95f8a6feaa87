//! Helpers for the process-level daemon tests: start `pipy` as master + workers on a PipyJS
//! script in a temp dir, talk HTTP to it, inspect `/proc`, read its log, receive sd_notify
//! datagrams, and kill every process it started on drop.
//!
//! A script cannot read its worker's pid, so replies carry a marker from the script text
//! (`reply-<generation>`, the script is rewritten before each HUP) and the worker that served a
//! connection is found in the debug log: a worker logs `[worker S pid P] inbound #id from
//! 127.0.0.1:<client port>` (start the daemon with `--log-level=debug` for that).
//!
//! Every wait polls a condition under a deadline; nothing sleeps to "let things settle".
//! Each test target compiles this module separately and uses a different subset.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use crate::common::{PIPY, START_TIMEOUT, TempDir, free_port, poll_until};
pub use crate::mock::Backend;
use crate::mock::Service;

/// Read timeout of test clients: a response that takes longer is a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// The daemon's script file name inside its temp dir (error messages name it).
pub const SCRIPT_NAME: &str = "script.js";

/// Two distinct free ports (`free_port` never hands out a port twice).
pub fn two_free_ports() -> (u16, u16) {
    (free_port(), free_port())
}

/// The reply text of generation `generation`: what the script serves and `Reply::generation`
/// parses back.
pub fn marker(generation: u64) -> String {
    format!("reply-{generation}")
}

/// A script answering every request on `port` with `reply-<generation>`.
pub fn reply_script(port: u16, generation: u64) -> String {
    format!(
        "pipy()\n.listen({port})\n.serveHTTP(() => new Message('{}'))\n",
        marker(generation)
    )
}

/// A script serving `reply-<generation>` on `port` and proxying `proxy_port` to
/// `127.0.0.1:upstream` through `demuxHTTP → muxHTTP → connect`.
pub fn proxy_script(port: u16, proxy_port: u16, upstream: u16, generation: u64) -> String {
    format!(
        "pipy()\n\
         .listen({port})\n\
         .serveHTTP(() => new Message('{}'))\n\
         .listen({proxy_port})\n\
         .demuxHTTP('forward')\n\
         .pipeline('forward')\n\
         .muxHTTP('upstream', '')\n\
         .pipeline('upstream')\n\
         .connect('127.0.0.1:{upstream}')\n",
        marker(generation)
    )
}

/// A script that does not parse (the error is on line 3).
pub fn broken_script(port: u16) -> String {
    format!("pipy()\n.listen({port})\n.serveHTTP(() => new Message('unclosed'\n")
}

/// How to start the daemon.
#[derive(Default)]
pub struct Launch {
    /// `PIPY_SPAWN`: workers = spawn + 1.
    pub spawn: usize,
    /// Initial script text.
    pub script: String,
    /// Extra command-line options.
    pub args: Vec<String>,
    /// Bind a datagram socket and pass it as `NOTIFY_SOCKET`.
    pub notify: bool,
    /// Pass `--pid-file=<dir>/pipy.pid`.
    pub pid_file: bool,
}

/// A worker the master logged as started: `started worker S (generation G, pid P)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StartedWorker {
    pub slot: usize,
    pub generation: u64,
    pub pid: i32,
}

/// A running daemon; on drop every process it started is killed.
pub struct Daemon {
    pub child: Child,
    pub script_path: PathBuf,
    pub pid_file: Option<PathBuf>,
    log_path: PathBuf,
    notify: Option<UnixDatagram>,
    exit_status: Option<ExitStatus>,
    // Last field: removed after the processes are gone.
    pub dir: TempDir,
}

impl Daemon {
    pub fn start(launch: Launch) -> Daemon {
        let dir = TempDir::new("d");
        let script_path = dir.path().join(SCRIPT_NAME);
        std::fs::write(&script_path, &launch.script).expect("write script");
        let log_path = dir.path().join("daemon.log");
        let log = std::fs::File::create(&log_path).expect("create log");
        let mut command = Command::new(PIPY);
        command
            .arg(&script_path)
            .args(&launch.args)
            .env("PIPY_SPAWN", launch.spawn.to_string())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("PIPY_CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let pid_file = launch.pid_file.then(|| dir.path().join("pipy.pid"));
        if let Some(path) = &pid_file {
            command.arg(format!("--pid-file={}", path.display()));
        }
        let notify = launch.notify.then(|| {
            let path = dir.path().join("notify.sock");
            let socket = UnixDatagram::bind(&path).expect("bind notify socket");
            command.env("NOTIFY_SOCKET", &path);
            socket
        });
        let child = command.spawn().expect("start pipy");
        Daemon {
            child,
            script_path,
            pid_file,
            log_path,
            notify,
            exit_status: None,
            dir,
        }
    }

    /// The master's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the master");
    }

    /// Replaces the script (takes effect on the next HUP).
    pub fn write_script(&self, text: &str) {
        std::fs::write(&self.script_path, text).expect("write script");
    }

    /// Live (not zombie) children of the master: its workers, of every generation.
    pub fn workers(&self) -> Vec<Pid> {
        live_children(self.pid())
    }

    /// Whether the master still runs.
    pub fn master_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `count` workers run and `port` answers.
    pub fn wait_serving(&self, port: u16, count: usize) {
        let ok = poll_until(START_TIMEOUT, || {
            self.workers().len() == count && http_get(port, "/").is_ok()
        });
        assert!(
            ok,
            "daemon not serving with {count} workers (has {:?})\n{}",
            self.workers(),
            self.log()
        );
    }

    /// Waits for the master to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        poll_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_some() {
            self.exit_status = status;
        }
        status
    }

    /// The next sd_notify datagram, or `None` after `timeout`.
    pub fn next_notification(&self, timeout: Duration) -> Option<String> {
        let socket = self.notify.as_ref().expect("started with notify: true");
        socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("set timeout");
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Skips datagrams until one starts with `prefix`; panics after `timeout`.
    pub fn expect_notification(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {prefix:?} notification\n{}",
                self.log()
            );
            if let Some(message) = self.next_notification(left)
                && message.starts_with(prefix)
            {
                return message;
            }
        }
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether some log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log().contains(text)
    }

    /// Every worker the master reported starting, in order.
    pub fn started_workers(&self) -> Vec<StartedWorker> {
        self.log().lines().filter_map(parse_started).collect()
    }

    /// The generation of worker `pid`, from the master's log.
    pub fn generation_of(&self, pid: Pid) -> Option<u64> {
        self.started_workers()
            .into_iter()
            .find(|w| w.pid == pid.as_raw())
            .map(|w| w.generation)
    }

    /// Pids of workers that logged accepting a connection (needs `--log-level=debug`).
    pub fn pids_that_accepted(&self) -> HashSet<i32> {
        self.log()
            .lines()
            .filter(|l| l.contains("] inbound #"))
            .filter_map(worker_pid_of_line)
            .collect()
    }

    /// The worker that accepted the connection from client port `client_port` (needs
    /// `--log-level=debug`); the latest such line wins, in case the port was reused.
    pub fn worker_that_accepted(&self, client_port: u16) -> Option<i32> {
        let from = format!(" from 127.0.0.1:{client_port}");
        self.log()
            .lines()
            .filter(|l| l.contains("] inbound #"))
            .filter(|l| {
                l.split_once(&from)
                    .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with(' '))
            })
            .filter_map(worker_pid_of_line)
            .next_back()
    }

    /// Like `worker_that_accepted`, waiting for the log line to appear.
    pub fn wait_worker_that_accepted(&self, client_port: u16) -> i32 {
        let mut found = None;
        let ok = poll_until(Duration::from_secs(5), || {
            found = self.worker_that_accepted(client_port);
            found.is_some()
        });
        assert!(
            ok,
            "no worker logged client port {client_port}\n{}",
            self.log()
        );
        found.unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exit_status.is_none() {
            // The workers first, while they are the live master's unreaped children: once
            // the master is gone they die with it (PR_SET_PDEATHSIG) and are reaped by init,
            // and a pid killed after that may already belong to another test's process
            // (pid_max is 32 768 here). A worker the master respawns in between dies with
            // the master.
            for worker in self.workers() {
                let _ = kill(worker, Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- daemon log ----\n{}", self.log());
        }
    }
}

fn parse_started(line: &str) -> Option<StartedWorker> {
    // "... [master pid M] started worker S (generation G, pid P)"
    let rest = line.split_once("] started worker ")?.1;
    let (slot, rest) = rest.split_once(" (generation ")?;
    let (generation, rest) = rest.split_once(", pid ")?;
    let pid = rest.strip_suffix(')')?;
    Some(StartedWorker {
        slot: slot.parse().ok()?,
        generation: generation.parse().ok()?,
        pid: pid.parse().ok()?,
    })
}

fn worker_pid_of_line(line: &str) -> Option<i32> {
    // "... [DBG] [worker S pid P] message"
    let tag = line.split_once("[worker ")?.1;
    let pid = tag.split_once(" pid ")?.1.split_once(']')?.0;
    pid.parse().ok()
}

/// Non-zombie processes whose parent is `parent`.
pub fn live_children(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Some((state, ppid)) = state_and_parent(Pid::from_raw(pid)) else {
                return false;
            };
            state != "Z" && ppid == parent.as_raw()
        })
        .map(Pid::from_raw)
        .collect()
}

fn state_and_parent(pid: Pid) -> Option<(String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.to_string();
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether a process exists and is not a zombie.
pub fn is_running(pid: Pid) -> bool {
    state_and_parent(pid).is_some_and(|(state, _)| state != "Z")
}

/// Every listening socket on `port` in /proc/net/tcp{,6} (one per worker slot with
/// SO_REUSEPORT), as its line.
pub fn listening_sockets(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields = line.split_whitespace().collect::<Vec<_>>();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // 0A: TCP_LISTEN.
            if *state != "0A" || local_port != Some(port) {
                continue;
            }
            found.push(line.to_string());
        }
    }
    found
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The client's port of the connection that carried it.
    pub client_port: u16,
}

impl Reply {
    /// The generation that served it: `N` of a `reply-N` body.
    pub fn generation(&self) -> Option<u64> {
        self.body.strip_prefix("reply-")?.parse().ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A GET with `connection: close` on a fresh connection to 127.0.0.1:`port`; a non-200 status
/// is an error.
pub fn http_get(port: u16, path: &str) -> Result<Reply, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    // Errors name the client port: the daemon's debug log names connections by it.
    let client_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    let exchange = |stream: &mut TcpStream| {
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        write_request(stream, path, Connection::Close)?;
        let reader = &mut BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        read_response(reader, Connection::Close)
    };
    let reply = exchange(&mut stream).map_err(|e| format!("{e} (client port {client_port})"))?;
    if reply.status != 200 {
        return Err(format!("status {}: {reply:?}", reply.status));
    }
    Ok(reply)
}

/// The `connection` header a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Close,
    KeepAlive,
}

/// Connects and sends a GET; the connection is in a listener's accept queue (or accepted) when
/// this returns.
pub fn send_request(port: u16, path: &str, connection: Connection) -> Result<TcpStream, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write_request(&mut stream, path, connection)?;
    Ok(stream)
}

fn write_request(stream: &mut TcpStream, path: &str, connection: Connection) -> Result<(), String> {
    let connection = match connection {
        Connection::Close => "close",
        Connection::KeepAlive => "keep-alive",
    };
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: {connection}\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))
}

/// Reads one response (`content-length` framed, or to EOF when `connection` is `Close` and no
/// length is given).
pub fn read_response(
    reader: &mut BufReader<TcpStream>,
    connection: Connection,
) -> Result<Reply, String> {
    let client_port = reader
        .get_ref()
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(|e| format!("read status line: {e}"))?;
    if status_line.is_empty() {
        return Err("connection closed before a response".to_string());
    }
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("read header: {e}"))?;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match (length, connection) {
        (Some(n), _) => {
            body.resize(n, 0);
            reader
                .read_exact(&mut body)
                .map_err(|e| format!("read body: {e}"))?;
        }
        (None, Connection::Close) => {
            reader
                .read_to_end(&mut body)
                .map_err(|e| format!("read body: {e}"))?;
        }
        (None, Connection::KeepAlive) => return Err("keep-alive response without length".into()),
    }
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        client_port,
    })
}

/// A persistent HTTP/1.1 connection.
pub struct KeepAliveClient {
    reader: BufReader<TcpStream>,
}

impl KeepAliveClient {
    pub fn connect(port: u16) -> Result<KeepAliveClient, String> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        Ok(KeepAliveClient {
            reader: BufReader::new(stream),
        })
    }

    /// The client's port of this connection.
    pub fn client_port(&self) -> u16 {
        self.reader
            .get_ref()
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// One GET on this connection; a non-200 status is an error.
    pub fn get(&mut self, path: &str) -> Result<Reply, String> {
        write_request(self.reader.get_mut(), path, Connection::KeepAlive)?;
        let reply = read_response(&mut self.reader, Connection::KeepAlive)?;
        if reply.status != 200 {
            return Err(format!("status {}: {reply:?}", reply.status));
        }
        Ok(reply)
    }
}

/// Path of the pid file, panicking if the daemon was started without one.
pub fn pid_file_of(daemon: &Daemon) -> &Path {
    daemon
        .pid_file
        .as_deref()
        .expect("started with pid_file: true")
}

/// The body `SlowUpstream` answers with.
pub const SLOW_BODY: &str = "slow-done";

/// An upstream that answers every request with `SLOW_BODY`, `delay` after receiving it
/// (`Backend::requests` counts a request as soon as it arrived).
pub fn slow_upstream(delay: Duration) -> Backend {
    Backend::start(Service::Late(delay, SLOW_BODY))
}
