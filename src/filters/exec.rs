//! `exec(cmd)`: runs a process per stream; input Data goes to its stdin, its stdout comes out as
//! Data, and its exit ends the stream.
//!
//! The command is a string split on spaces, an array of arguments, or a function returning either.
//!
//! I/O choice: the child's stdin and stdout are non-blocking pipes that this filter polls on a
//! short timer instead of registering them with the reactor, which has no hook for foreign file
//! descriptors. The timer runs every `POLL_MIN` while bytes move and backs off to `POLL_MAX`
//! while the child is quiet (new input resets it). The cost is that much latency per read and a
//! few wake-ups per second per idle child; the gain is no extra threads and no change to the
//! event loop. The child's stderr is
//! inherited. Input StreamEnd closes the child's stdin once queued input is written. When the
//! pipeline is destroyed first, the child gets SIGTERM and a short-lived thread reaps it.

use super::{Dynamic, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal};
use crate::js::builtins::helpers::array_elements;
use crate::worker::core::TimerId;
use bytes::Bytes;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// How often a running child's pipes and exit status are checked while bytes move.
const POLL_MIN: Duration = Duration::from_millis(5);
/// The slowest check, for a quiet child.
const POLL_MAX: Duration = Duration::from_millis(80);
/// Largest read from the child's stdout at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Reads per poll, so one chatty child cannot hold the worker.
const READS_PER_POLL: usize = 16;

pub fn build_exec(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    if a.arg(0).is_null_or_undefined() {
        return Err("argument #1 (command) is required".into());
    }
    Ok(Box::new(ExecFactory {
        command: Dynamic::from_arg(a, 0),
        module: a.module,
    }))
}

struct ExecFactory {
    command: Dynamic,
    module: usize,
}

impl FilterFactory for ExecFactory {
    fn name(&self) -> &'static str {
        "exec"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Exec {
            command: self.command.clone(),
            module: self.module,
            state: State::NotStarted,
            timer: None,
            poll_every: POLL_MIN,
        })
    }
}

/// A running child and its pipes.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Input not yet accepted by the child's stdin.
    pending: Data,
    /// Input ended: close stdin once `pending` is written.
    input_done: bool,
    stdout: Option<ChildStdout>,
}

enum State {
    NotStarted,
    Running(Box<Running>),
    /// The process exited (or could not start) and StreamEnd was output.
    Done,
}

struct Exec {
    command: Dynamic,
    module: usize,
    state: State,
    timer: Option<TimerId>,
    poll_every: Duration,
}

fn set_nonblocking(fd: &impl AsRawFd) -> std::io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a file descriptor we own (a pipe end of our child); no memory involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Splits a command line on spaces (empty pieces dropped, no quoting, as in Pipy).
fn split_command(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

impl Exec {
    fn argv(&self, cx: &mut Cx) -> Result<Vec<String>, ()> {
        let v = self.command.eval(cx)?;
        let ctx = cx.core.js.enter(self.module);
        let read = (|| -> boa_engine::JsResult<Vec<String>> {
            match v.as_object() {
                Some(o) if o.is_array() => array_elements(&o, ctx)?
                    .iter()
                    .map(|v| Ok(v.to_string(ctx)?.to_std_string_escaped()))
                    .collect(),
                _ => Ok(split_command(&v.to_string(ctx)?.to_std_string_escaped())),
            }
        })();
        read.map_err(|e| log::error!("[exec] invalid command: {e}"))
    }

    fn start(&mut self, cx: &mut Cx) -> Result<(), StreamError> {
        let argv = self.argv(cx).map_err(|()| StreamError::RuntimeError)?;
        let Some((prog, args)) = argv.split_first() else {
            log::error!("[exec] command is empty");
            return Err(StreamError::RuntimeError);
        };
        let spawned = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                log::error!("[exec] unable to exec {}: {e}", argv.join(" "));
                return Err(StreamError::RuntimeError);
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        for r in [
            stdin.as_ref().map(set_nonblocking),
            stdout.as_ref().map(set_nonblocking),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = r {
                log::error!("[exec] cannot set up pipes: {e}");
                terminate(child);
                return Err(StreamError::RuntimeError);
            }
        }
        log::debug!("[exec] started {} [pid = {}]", argv.join(" "), child.id());
        self.state = State::Running(Box::new(Running {
            child,
            stdin,
            pending: Data::new(),
            input_done: false,
            stdout,
        }));
        self.timer = Some(cx.set_timer(POLL_MIN, 0));
        Ok(())
    }

    /// Moves bytes both ways and checks whether the child exited.
    fn poll(&mut self, cx: &mut Cx) {
        let State::Running(r) = &mut self.state else {
            return;
        };
        let mut moved = write_pending(r);
        let mut eof = r.stdout.is_none();
        if let Some(out) = &mut r.stdout {
            let mut buf = [0u8; READ_CHUNK];
            for _ in 0..READS_PER_POLL {
                match out.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        moved = true;
                        let chunk = Bytes::copy_from_slice(&buf[..n]);
                        cx.output(Event::Data(Data::from(chunk)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::debug!("[exec] reading stdout: {e}");
                        eof = true;
                        break;
                    }
                }
            }
        }
        if eof {
            r.stdout = None;
        }
        let exited = match r.child.try_wait() {
            Ok(Some(status)) => {
                log::debug!(
                    "[exec] child process exited [pid = {}]: {status}",
                    r.child.id()
                );
                true
            }
            Ok(None) => false,
            Err(e) => {
                log::error!("[exec] waiting for child: {e}");
                true
            }
        };
        // The child's last output is read before its exit ends the stream.
        if exited && eof {
            self.state = State::Done;
            cx.output(Event::StreamEnd(StreamError::None));
        } else {
            self.poll_every = if moved {
                POLL_MIN
            } else {
                (self.poll_every * 2).min(POLL_MAX)
            };
            self.timer = Some(cx.set_timer(self.poll_every, 0));
        }
    }
}

/// Writes queued input to the child's stdin; closes it after the input ended. Returns whether
/// any byte was written.
fn write_pending(r: &mut Running) -> bool {
    let mut wrote = false;
    if let Some(stdin) = &mut r.stdin {
        loop {
            let Some(chunk) = r.pending.chunks().next().cloned() else {
                break;
            };
            match stdin.write(&chunk) {
                Ok(n) => {
                    wrote |= n > 0;
                    r.pending.consume(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return wrote,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // The child closed its stdin: the rest of the input has nowhere to go.
                    log::debug!("[exec] writing stdin: {e}");
                    r.pending.clear();
                    r.stdin = None;
                    return wrote;
                }
            }
        }
    }
    if r.input_done && r.pending.is_empty() {
        r.stdin = None;
    }
    wrote
}

/// Stops a child that is no longer wanted and reaps it off the event loop.
fn terminate(mut child: Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: signals the child process we spawned; no memory involved.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("exec-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        log::warn!("[exec] cannot reap child process: {e}");
    }
}

impl Filter for Exec {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if matches!(self.state, State::NotStarted)
            && let Err(err) = self.start(cx)
        {
            self.state = State::Done;
            cx.output(Event::StreamEnd(err));
            return;
        }
        let State::Running(r) = &mut self.state else {
            return;
        };
        match ev {
            Event::Data(d) => {
                if r.stdin.is_some() {
                    r.pending.push_data(d);
                }
            }
            Event::StreamEnd(_) => r.input_done = true,
            Event::MessageStart(_) | Event::MessageEnd => {}
        }
        write_pending(r);
        // New input usually means output soon: poll at full speed again.
        if self.poll_every > POLL_MIN {
            self.poll_every = POLL_MIN;
            if let Some(t) = self.timer.take() {
                cx.cancel_timer(t);
            }
            self.timer = Some(cx.set_timer(POLL_MIN, 0));
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        if let Signal::Timer(_) = sig {
            self.timer = None;
            self.poll(cx);
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let Some(t) = self.timer.take() {
            cx.cancel_timer(t);
        }
        if let State::Running(r) = std::mem::replace(&mut self.state, State::Done) {
            let Running {
                child,
                stdin,
                stdout,
                ..
            } = *r;
            drop(stdin);
            drop(stdout);
            terminate(child);
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "exec",
    "command: string | string[] | () => string | string[]",
    "Runs a process per stream: input data to its stdin, its stdout as output, its exit ends the stream",
    build_exec
),];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_splits_on_spaces() {
        assert_eq!(split_command("cat  -u x"), vec!["cat", "-u", "x"]);
        assert!(split_command("  ").is_empty());
    }

    #[test]
    fn pending_input_reaches_the_child() {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cat");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout");
        if let Some(s) = &stdin {
            set_nonblocking(s).expect("nonblocking");
        }
        let mut r = Running {
            child,
            stdin,
            pending: Data::from_static(b"ping"),
            input_done: true,
            stdout: None,
        };
        write_pending(&mut r);
        assert!(r.stdin.is_none(), "stdin closed after the input ended");
        let mut got = String::new();
        stdout.read_to_string(&mut got).expect("read");
        assert_eq!(got, "ping");
        let _ = r.child.wait();
    }
}
