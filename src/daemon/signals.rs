//! Signals in the master become flags plus a byte on a self-pipe that wakes its poll; the master
//! acts on them in its loop, never inside a handler. Workers get plain dispositions back.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, signal};

/// What a signal asks the master to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterSignal {
    /// SIGCHLD: reap exited workers.
    ChildExited,
    /// SIGHUP: evaluate the script again and replace the workers.
    Reload,
    /// SIGTERM / SIGINT: drain the workers, then exit.
    GracefulStop,
    /// SIGQUIT: stop the workers now, then exit.
    ImmediateStop,
}

/// One flag per signal, in the order the master handles them.
const HANDLED: [(libc::c_int, MasterSignal); 5] = [
    (libc::SIGCHLD, MasterSignal::ChildExited),
    (libc::SIGHUP, MasterSignal::Reload),
    (libc::SIGTERM, MasterSignal::GracefulStop),
    (libc::SIGINT, MasterSignal::GracefulStop),
    (libc::SIGQUIT, MasterSignal::ImmediateStop),
];

/// The master's installed handlers.
pub struct MasterSignals {
    flags: Vec<(Arc<AtomicBool>, MasterSignal)>,
    wake_reader: mio::net::UnixStream,
    wake_writer_fd: RawFd,
    ids: Vec<signal_hook::SigId>,
}

impl MasterSignals {
    /// Installs handlers for HUP, TERM, INT, QUIT and CHLD and ignores SIGPIPE (a write to a
    /// worker that just died must not kill the master).
    pub fn install() -> io::Result<Self> {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.map_err(io::Error::from)?;
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let wake_writer_fd = writer.into_raw_fd();
        let mut flags = Vec::new();
        let mut ids = Vec::new();
        for (number, meaning) in HANDLED {
            let flag = Arc::new(AtomicBool::new(false));
            ids.push(signal_hook::flag::register(number, Arc::clone(&flag))?);
            ids.push(signal_hook::low_level::pipe::register_raw(
                number,
                wake_writer_fd,
            )?);
            flags.push((flag, meaning));
        }
        Ok(MasterSignals {
            flags,
            wake_reader: mio::net::UnixStream::from_std(reader),
            wake_writer_fd,
            ids,
        })
    }

    /// The source to register READABLE in the master's poll.
    pub fn wake_source(&mut self) -> &mut mio::net::UnixStream {
        &mut self.wake_reader
    }

    /// Empties the self-pipe after a wake-up.
    pub fn drain_wake_pipe(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.wake_reader.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Signals received since the last call, each at most once, in handling order.
    pub fn take(&self) -> Vec<MasterSignal> {
        let mut pending = Vec::new();
        for (flag, meaning) in &self.flags {
            if flag.swap(false, Ordering::SeqCst) && !pending.contains(meaning) {
                pending.push(*meaning);
            }
        }
        pending
    }

    /// Descriptors a forked worker must close.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.wake_reader.as_raw_fd(), self.wake_writer_fd]
    }
}

impl Drop for MasterSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        // SAFETY: the fd was taken from a UnixStream above and no handler writes to it any more.
        unsafe { libc::close(self.wake_writer_fd) };
    }
}

/// Blocks every signal until dropped, so no handler runs in a child between fork and
/// `reset_in_worker` (it would write to the master's self-pipe).
pub struct SignalsBlocked {
    previous: SigSet,
}

impl SignalsBlocked {
    /// Blocks all signals in this thread.
    pub fn block_all() -> io::Result<Self> {
        let mut previous = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut previous),
        )
        .map_err(io::Error::from)?;
        Ok(SignalsBlocked { previous })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None);
    }
}

/// In a freshly forked worker: replace the master's handlers and unblock everything.
/// HUP, INT and TERM are ignored: a Ctrl-C, `timeout` or `kill -TERM -PGID` reaches the whole
/// process group, and stopping is the master's to handle (it drains the workers over their
/// control channels). SIGPIPE is ignored (writes report EPIPE instead); QUIT and CHLD get their
/// defaults back.
pub fn reset_in_worker() {
    let dispositions = [
        (Signal::SIGHUP, SigHandler::SigIgn),
        (Signal::SIGINT, SigHandler::SigIgn),
        (Signal::SIGPIPE, SigHandler::SigIgn),
        (Signal::SIGTERM, SigHandler::SigIgn),
        (Signal::SIGQUIT, SigHandler::SigDfl),
        (Signal::SIGCHLD, SigHandler::SigDfl),
    ];
    for (sig, handler) in dispositions {
        // SAFETY: only SIG_IGN/SIG_DFL are installed, no handler code.
        if let Err(e) = unsafe { signal(sig, handler) } {
            log::warn!("cannot reset {sig}: {e}");
        }
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
