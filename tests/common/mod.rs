//! Helpers shared by the integration tests: a guard around a running `pipy` process, free ports,
//! temporary script directories and a small raw HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Every wait is bounded and polls a condition; nothing sleeps for a fixed time to "let the
//! server settle". Each test target compiles this module separately and uses a different subset,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Path of the binary under test, built by cargo for this test target.
pub const PIPY: &str = env!("CARGO_BIN_EXE_pipy");

/// How long a server may take to open its port.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Read/write timeout on test sockets; a response that takes longer is a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a one-shot CLI invocation (`--verify`, `--help`, ...) may run.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Interval between two checks of a polled condition.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Pipy's tutorial 03 proxy: `demuxHTTP` on `PORT`, every request through one `muxHTTP`
/// session (`mux_options` its third argument, empty for none), `after_mux` filters on what the
/// session answers, and `upstream` the filters of the session's pipeline.
pub fn tutorial_proxy_script(mux_options: &str, after_mux: &str, upstream: &str) -> String {
    format!(
        r#"
pipy()
.listen(+os.env.PORT)
  .demuxHTTP('forward')
.pipeline('forward')
  .muxHTTP('upstream', '', {mux_options})
  {after_mux}
.pipeline('upstream')
  {upstream}
"#
    )
}

/// Root of the repository (the crate under test).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A script stored in `tests/scripts/`.
pub fn script(name: &str) -> PathBuf {
    repo_root().join("tests").join("scripts").join(name)
}

/// A port that was free a moment ago, on every IPv4 address. It is taken below the kernel's
/// ephemeral range (`ip_local_port_range`): a port from that range can become, at any moment,
/// the local port of some client socket, ours included, and a connection to a port from a
/// socket that got the same local port connects to itself, so a readiness probe succeeds
/// while nothing listens. Each test process walks the window from its own offset, and one
/// process never hands out a port twice.
pub fn free_port() -> u16 {
    free_ports_on(1, Ipv4Addr::UNSPECIFIED.into())
}

/// A socket bound to `address` the way [`free_port`] checks it; `None` if the bind fails.
///
/// The check binds without listening. Another test thread may fork a child (to exec a server)
/// while the check's socket is open, and the child holds a copy until its `exec`. A listening
/// copy would accept the next server's readiness probe and then reset the connections queued
/// on it when the child execs; a bound copy refuses connections instead, and `SO_REUSEADDR`
/// lets the server bind the port beside it.
pub fn port_check_socket(address: SocketAddr) -> Option<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        None,
    )
    .ok()?;
    socket.set_reuse_address(true).ok()?;
    socket.bind(&address.into()).ok()?;
    Some(socket)
}

/// Two adjacent free ports `(p, p + 1)`, for a script that listens on `PORT` and `PORT + 1`.
/// Both are reserved in one step: `free_port` hands out consecutive ports, so checking that
/// `p + 1` is free and using it would race with another test thread taking `p + 1` next, and
/// the two servers would share it through `SO_REUSEPORT`.
pub fn free_port_pair() -> (u16, u16) {
    let port = free_ports_on(2, Ipv4Addr::UNSPECIFIED.into());
    (port, port + 1)
}

/// A port on the IPv6 loopback that was free a moment ago (see [`free_port`]).
pub fn free_port_v6() -> u16 {
    free_ports_on(1, Ipv6Addr::LOCALHOST.into())
}

/// The first of `count` consecutive ports that [`port_check_socket`] can bind on `ip`, reserved
/// for this process.
fn free_ports_on(count: u32, ip: IpAddr) -> u16 {
    /// Ports below this are left to well-known services.
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&start| start > LOWEST + 1_000)
        .unwrap_or(32_768);
    let span = ephemeral_start - LOWEST;
    let offset = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(count, Ordering::Relaxed);
        let first = (offset + n) % span;
        // A run that would wrap past the window's end is skipped, not split.
        if first + count > span {
            continue;
        }
        let ports = (0..count).map(|i| {
            u16::try_from(LOWEST + first + i).expect("ports below the ephemeral range fit u16")
        });
        if ports
            .clone()
            .all(|port| port_check_socket((ip, port).into()).is_some())
        {
            return u16::try_from(LOWEST + first).expect("ports below the ephemeral range fit u16");
        }
    }
    panic!("no {count} free ports between {LOWEST} and {ephemeral_start}");
}

/// The number a `/proc/PID/status` line `name` starts with (`VmRSS` in KiB,
/// `voluntary_ctxt_switches`, ...); `None` if the process or the line is gone.
pub fn proc_status_number(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    value.split_whitespace().next()?.parse().ok()
}

/// Resident memory in KiB of every process in process group `pgid` (Linux `/proc`).
pub fn group_rss_kib(pgid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state ppid pgrp ...
        let Some(after_name) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
            continue;
        };
        let pgrp = after_name
            .split_whitespace()
            .nth(2)
            .and_then(|f| f.parse::<u32>().ok());
        if pgrp != Some(pgid) {
            continue;
        }
        total += proc_status_number(pid, "VmRSS").unwrap_or(0);
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop; tests write their scripts into it.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "pipy-test-{}-{}-{}",
            tag,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` (sub-directories are created) and returns the file's path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let file = self.path.join(name);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("create script dir");
        }
        std::fs::write(&file, contents).expect("write script");
        file
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// Output collected from a pipe by a background thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn spawn_reader(&self, mut pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        let sink = self.0.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// A running `pipy` process. Its stdout and stderr are captured; on drop the whole process
/// group is killed and reaped, so worker children cannot outlive a test.
pub struct Pipy {
    child: Child,
    stdout: Captured,
    stderr: Captured,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl Pipy {
    /// Spawns `pipy args...` with extra environment variables, in its own process group.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Pipy {
        Pipy::spawn_with_fd_limit(args, envs, None)
    }

    /// [`Pipy::spawn`], with the soft and hard limits on open descriptors (`RLIMIT_NOFILE`)
    /// set to `fd_limit` = `(soft, hard)` when given, as `ulimit -Sn` and `ulimit -Hn` would.
    pub fn spawn_with_fd_limit(
        args: &[&str],
        envs: &[(&str, &str)],
        fd_limit: Option<(u64, u64)>,
    ) -> Pipy {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(PIPY);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (name, value) in envs {
            command.env(name, value);
        }
        if let Some((soft, hard)) = fd_limit {
            // SAFETY: setrlimit is async-signal-safe and touches only the child's limits.
            unsafe {
                command.pre_exec(move || {
                    let rlimit = libc::rlimit {
                        rlim_cur: soft as libc::rlim_t,
                        rlim_max: hard as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {PIPY}: {e}"));
        let stdout = Captured::default();
        let stderr = Captured::default();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(stdout.spawn_reader(pipe));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(stderr.spawn_reader(pipe));
        }
        Pipy {
            child,
            stdout,
            stderr,
            readers,
            exit: None,
        }
    }

    /// Runs `script` with `PORT=<port>` in the environment (plus `extra_args` before the script)
    /// and waits until the port accepts connections.
    pub fn serve(script: &Path, port: u16, extra_args: &[&str]) -> Pipy {
        Pipy::serve_with(script, port, extra_args, &[])
    }

    /// [`Pipy::serve`] with more environment variables besides `PORT`.
    pub fn serve_with(
        script: &Path,
        port: u16,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> Pipy {
        Pipy::serve_limited(script, port, extra_args, envs, None)
    }

    /// [`Pipy::serve_with`] with no extra arguments and the limits on open descriptors set to
    /// `(soft, hard)`, as `ulimit -Sn` and `ulimit -Hn` would.
    pub fn serve_with_fd_limit(
        script: &Path,
        port: u16,
        envs: &[(&str, &str)],
        fd_limit: (u64, u64),
    ) -> Pipy {
        Pipy::serve_limited(script, port, &[], envs, Some(fd_limit))
    }

    fn serve_limited(
        script: &Path,
        port: u16,
        extra_args: &[&str],
        envs: &[(&str, &str)],
        fd_limit: Option<(u64, u64)>,
    ) -> Pipy {
        let port_text = port.to_string();
        let script_text = script.to_string_lossy().into_owned();
        let mut args: Vec<&str> = extra_args.to_vec();
        args.push(&script_text);
        let mut all_envs = vec![("PORT", port_text.as_str())];
        all_envs.extend_from_slice(envs);
        let mut pipy = Pipy::spawn_with_fd_limit(&args, &all_envs, fd_limit);
        pipy.wait_port(port);
        pipy
    }

    /// Starts a script from `tests/scripts/` on a fresh port; returns the guard and the port.
    pub fn serve_script(name: &str) -> (Pipy, u16) {
        let port = free_port();
        (Pipy::serve(&script(name), port, &[]), port)
    }

    /// Waits (bounded) until 127.0.0.1:`port` accepts a TCP connection. Panics with the
    /// captured stderr if the process exits first or the time runs out.
    pub fn wait_port(&mut self, port: u16) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.try_exit() {
                panic!(
                    "pipy exited with {status} before listening on {port}; stderr:\n{}",
                    self.stderr()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "pipy did not listen on {port} within {START_TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// Polls stderr until `predicate` holds on it, for at most `timeout`; returns whether it did.
    pub fn wait_stderr(&self, timeout: Duration, predicate: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate(&self.stderr()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Polls stderr until it contains `needle`, for at most `timeout`.
    pub fn stderr_contains(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_stderr(timeout, |text| text.contains(needle))
    }

    /// The exit status if the process has ended.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() && self.exited_unreaped() {
            // Whatever is left of its process group goes now, while the group id is still
            // ours: once the master is reaped its pid, and with it the group id, can be given
            // to a process another test starts (pid_max is 32 768 here and a test run wraps
            // it), and a late `kill(-pgid)` would then kill that test's pipy.
            self.kill_group();
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// The master has exited but is not reaped yet (a zombie keeps its pid).
    fn exited_unreaped(&self) -> bool {
        let pid: libc::id_t = self.child.id();
        // SAFETY: an all-zero siginfo_t is valid; waitid writes at most one into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) on our own child with WNOWAIT reaps nothing.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: with WEXITED a filled-in siginfo_t carries si_pid; 0 means still running.
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// SIGKILL to the master's process group (its workers and whatever they started). Only
    /// while the master is not reaped (see `try_exit`).
    fn kill_group(&self) {
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group we created with
            // process_group(0); it touches no memory.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }

    /// Waits (bounded) for the process to exit; panics with stderr if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                self.join_readers();
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "pipy still running after {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the master for a graceful stop (SIGTERM), as systemd or `kill` would; pair with
    /// `wait_exit` to have read everything it logged.
    pub fn terminate(&self) {
        if self.exit.is_some() {
            // Reaped: the pid may belong to someone else by now.
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on the child we started; it touches no memory.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Pipy {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill_group();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
        if thread::panicking() {
            // A failing test shows what the server logged: a flaky failure in CI is otherwise
            // only the client's side of the story.
            eprintln!("pipy {} stderr:\n{}", self.child.id(), self.stderr());
        }
    }
}

/// Result of a one-shot command-line run.
pub struct CliRun {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

impl CliRun {
    /// Exit code, or -1 when killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Both streams, for assertions that do not care where a text went.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for CliRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `pipy args...` to completion (bounded by [`CLI_TIMEOUT`]).
pub fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> CliRun {
    let mut pipy = Pipy::spawn(args, envs);
    let status = pipy.wait_exit(CLI_TIMEOUT);
    CliRun {
        status,
        stdout: pipy.stdout(),
        stderr: pipy.stderr(),
    }
}

/// Same as [`run_cli`] with a plain `Command`, for cases that must control the environment
/// completely (e.g. without `PIPY_CONFIG_FILE`).
pub fn run_cli_clean_env(args: &[&str], envs: &[(&str, &str)]) -> CliRun {
    let mut command = Command::new(PIPY);
    command
        .args(args)
        .env_remove("PIPY_CONFIG_FILE")
        .env_remove("PORT")
        .stdin(Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pipy");
    let output = wait_output_bounded(child, CLI_TIMEOUT);
    CliRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn wait_output_bounded(child: Child, timeout: Duration) -> Output {
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let waiter = thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = done_tx.send(());
        output
    });
    if done_rx.recv_timeout(timeout).is_err() {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: signals the child we spawned; no memory is involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        panic!("pipy did not exit within {timeout:?}");
    }
    waiter
        .join()
        .expect("waiter thread")
        .expect("collect pipy output")
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP client
// ---------------------------------------------------------------------------------------------

/// A parsed HTTP response together with the exact bytes it arrived as.
#[derive(Clone)]
pub struct Response {
    /// e.g. `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// The response exactly as received, head and framed body.
    pub raw: Vec<u8>,
}

impl Response {
    /// First value of a header, name compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Raw bytes as (lossy) text, for assertion messages.
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Whether the body used chunked transfer coding.
    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.raw.len() > 2048 {
            &self.raw[..2048]
        } else {
            &self.raw[..]
        };
        write!(f, "Response({:?})", String::from_utf8_lossy(shown))
    }
}

/// How the body of the next response is delimited, decided by the request that caused it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BodyRule {
    /// Framed by the response headers (content-length, chunked, or until close).
    Normal,
    /// Response to HEAD: never a body.
    HeadRequest,
}

/// A client connection with its own read buffer, so pipelined responses can be split.
pub struct Conn {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port` with [`IO_TIMEOUT`] on reads and writes.
    pub fn open(port: u16) -> Conn {
        Conn::open_addr(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Connects to `addr` with [`IO_TIMEOUT`] on reads and writes.
    pub fn open_addr(addr: SocketAddr) -> Conn {
        let stream = connect_stream(addr);
        stream.set_nodelay(true).expect("set nodelay");
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

    /// [`Conn::open`] with the socket's receive buffer set to `bytes` before it connects (the
    /// kernel doubles it): a client that does not read then leaves the server's bytes queued
    /// at the server, not in its own buffers, which autotuning grows to megabytes.
    pub fn open_with_receive_buffer(port: u16, bytes: usize) -> Conn {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        socket
            .connect_timeout(&addr.into(), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let stream = with_io_timeouts(TcpStream::from(socket));
        stream.set_nodelay(true).expect("set nodelay");
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

    /// The local (client-side) address of the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// A second handle on the socket, e.g. for a writer thread.
    pub fn try_clone_stream(&self) -> TcpStream {
        self.stream.try_clone().expect("clone stream")
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write {} bytes: {e}", bytes.len()));
    }

    /// Half-closes the connection (no more requests).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more bytes into the buffer; returns how many (0 = end of stream).
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Ensures at least `n` bytes are buffered.
    fn fill_to(&mut self, n: usize) -> std::io::Result<()> {
        while self.buffer.len() < n {
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed with {} of {n} bytes; got {:?}",
                        self.buffer.len(),
                        self.buffered_text()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn buffered_text(&self) -> String {
        String::from_utf8_lossy(&self.buffer).into_owned()
    }

    /// Index just past the next CRLF at or after `from`, reading more as needed.
    fn line_end(&mut self, from: usize) -> std::io::Result<usize> {
        loop {
            if let Some(pos) = find(&self.buffer[from..], b"\r\n") {
                return Ok(from + pos + 2);
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed inside a line; got {:?}",
                        self.buffered_text()
                    ),
                ));
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        self.fill_to(n)
            .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
        self.buffer.drain(..n).collect()
    }

    /// Reads one full response; panics on timeout or premature close.
    pub fn read_response(&mut self) -> Response {
        self.read_response_for(BodyRule::Normal)
    }

    /// Reads one full response to a request with the given body rule.
    pub fn read_response_for(&mut self, rule: BodyRule) -> Response {
        self.try_read_response(rule)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads one full response, reporting I/O problems (timeouts, EOF) as errors.
    pub fn try_read_response(&mut self, rule: BodyRule) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(pos) = find(&self.buffer, b"\r\n\r\n") {
                break pos + 4;
            }
            if self.fill()? == 0 {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full response head; got {:?}",
                        self.buffered_text()
                    ),
                ));
            }
        };
        let head_text = String::from_utf8_lossy(&self.buffer[..head_end - 4]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
            std::io::Error::new(
                ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        let reason = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| match l.split_once(':') {
                Some((n, v)) => (n.to_string(), v.trim().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect();
        let mut response = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            raw: Vec::new(),
        };

        let bodiless =
            rule == BodyRule::HeadRequest || status < 200 || status == 204 || status == 304;
        let total_len = if bodiless {
            head_end
        } else if response.is_chunked() {
            let mut pos = head_end;
            loop {
                let size_end = self.line_end(pos)?;
                let size_line =
                    String::from_utf8_lossy(&self.buffer[pos..size_end - 2]).into_owned();
                let size_hex = size_line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                    std::io::Error::new(
                        ErrorKind::InvalidData,
                        format!("bad chunk size line {size_line:?}"),
                    )
                })?;
                pos = size_end;
                if size == 0 {
                    // Trailer section: lines until an empty one.
                    loop {
                        let end = self.line_end(pos)?;
                        let empty = end == pos + 2;
                        pos = end;
                        if empty {
                            break;
                        }
                    }
                    break pos;
                }
                self.fill_to(pos + size + 2)?;
                response
                    .body
                    .extend_from_slice(&self.buffer[pos..pos + size]);
                if &self.buffer[pos + size..pos + size + 2] != b"\r\n" {
                    return Err(std::io::Error::new(
                        ErrorKind::InvalidData,
                        "chunk not followed by CRLF",
                    ));
                }
                pos += size + 2;
            }
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().map_err(|_| {
                std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!("bad content-length {length:?}"),
                )
            })?;
            self.fill_to(head_end + length)?;
            response
                .body
                .extend_from_slice(&self.buffer[head_end..head_end + length]);
            head_end + length
        } else {
            // Delimited by close (RFC 9112 §6.3 item 8).
            while self.fill()? > 0 {}
            response.body.extend_from_slice(&self.buffer[head_end..]);
            self.buffer.len()
        };
        response.raw = self.buffer.drain(..total_len).collect();
        Ok(response)
    }

    /// Reads everything until the server closes; panics on timeout.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "reading until close: {e}; got so far {:?}",
                    self.buffered_text()
                ),
            }
        }
        std::mem::take(&mut self.buffer)
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected the connection to close, got more bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Asserts that nothing arrives within `quiet` and the connection is still open.
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.stream
            .set_read_timeout(Some(quiet))
            .expect("set read timeout");
        let result = self.fill();
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set read timeout");
        match result {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(0) => panic!("connection closed, expected it to stay open and silent"),
            Ok(_) => panic!("expected silence, got {:?}", self.buffered_text()),
            Err(e) => panic!("expected silence, got error {e}"),
        }
    }

    /// Sends one request and reads its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> Response {
        self.send(request);
        self.read_response()
    }
}

/// A plain TCP connection to `addr` with [`IO_TIMEOUT`] on connecting, reads and writes.
pub fn connect_stream(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    with_io_timeouts(stream)
}

/// `stream` with [`IO_TIMEOUT`] on reads and writes.
fn with_io_timeouts(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .expect("set write timeout");
    stream
}

/// The body bytes of the complete chunks at the start of `raw` (a chunked body, streamed).
pub fn dechunk_so_far(raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut at = 0;
    while let Some(eol) = find(&raw[at..], b"\r\n") {
        let size_line = std::str::from_utf8(&raw[at..at + eol]).expect("chunk size line");
        let size = usize::from_str_radix(size_line.trim(), 16).expect("chunk size");
        let data = at + eol + 2;
        if size == 0 || raw.len() < data + size + 2 {
            break;
        }
        body.extend_from_slice(&raw[data..data + size]);
        at = data + size + 2;
    }
    body
}

/// Position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A request with a `Host` header, the given extra header lines and a content-length body
/// (the content-length line is left out when the body is empty and the method is GET/HEAD).
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `GET path HTTP/1.1` with only a Host header.
pub fn get(path: &str) -> Vec<u8> {
    request("GET", path, &[], b"")
}

/// Encodes `body` with chunked transfer coding, cutting chunks of the given sizes in turn.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 16);
    let mut pos = 0;
    let mut turn = 0;
    while pos < body.len() {
        let size = sizes[turn % sizes.len()].clamp(1, body.len() - pos);
        turn += 1;
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend_from_slice(&body[pos..pos + size]);
        out.extend_from_slice(b"\r\n");
        pos += size;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Deterministic pseudo-random bytes (xorshift), so big bodies are not trivially compressible
/// or periodic and misplaced bytes are detected.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// One-shot GET on a new connection.
pub fn http_get(port: u16, path: &str) -> Response {
    Conn::open(port).roundtrip(&get(path))
}

/// The exact bytes of an error answer that closes the connection.
pub fn error_response(code: u16, reason: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .into_bytes()
}

/// The exact response of `serveHTTP(new Message('Hi, there!\n'))` on a keep-alive connection.
pub const HELLO_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: keep-alive\r\n\r\nHi, there!\n";

/// Asserts that two byte strings are equal, showing them as text on failure.
#[track_caller]
pub fn assert_bytes_eq(actual: &[u8], expected: &[u8]) {
    assert!(
        actual == expected,
        "bytes differ\n  actual:   {:?}\n  expected: {:?}",
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(expected)
    );
}

/// Sends `request` on a new connection and reads until the bytes satisfy `complete` or
/// `give_up` says to stop (checked between reads of at most 20 ms), for at most [`IO_TIMEOUT`].
/// Returns the connection and what it got.
pub fn request_unless(
    port: u16,
    request: &[u8],
    complete: impl Fn(&[u8]) -> bool,
    mut give_up: impl FnMut() -> bool,
) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    stream.write_all(request).expect("write request");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    poll_until(IO_TIMEOUT, || {
        if let Ok(n) = stream.read(&mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
        complete(&got) || give_up()
    });
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .expect("read timeout");
    (stream, got)
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}
