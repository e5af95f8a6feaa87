//! Forking one worker: the child keeps only its own slot's listeners and its control channel,
//! resets the master's signal handling, drops privileges, arranges to die with the master, and
//! runs the program. The child never returns into the master's code.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, RawFd};

use nix::unistd::{ForkResult, Pid, fork, getppid};

use super::control::{self, MasterControl};
use super::logging::{LogRole, set_log_role};
use super::privileges::Credentials;
use super::signals::{SignalsBlocked, reset_in_worker};
use super::{Program, WorkerStart};

/// Exit code of a worker whose set-up failed before the program ran (EX_OSERR, sysexits.h).
const EXIT_SETUP_FAILED: i32 = 71;
/// Exit code of a worker whose program panicked (EX_SOFTWARE, sysexits.h).
const EXIT_PANIC: i32 = 70;

/// What a worker is made of.
pub(crate) struct WorkerSpec<'a> {
    /// Slot index.
    pub slot: usize,
    /// Generation number.
    pub generation: u64,
    /// The program of that generation.
    pub program: &'a dyn Program,
    /// This slot's listeners (master's descriptors), keyed by address.
    pub listeners: Vec<(SocketAddr, RawFd)>,
    /// Every master-held descriptor; the child closes all of them (after duplicating its own
    /// listeners), so it holds no other worker's control channel and no other slot's socket.
    pub master_fds: Vec<RawFd>,
    /// Identity to switch to.
    pub credentials: Option<&'a Credentials>,
}

/// Forks a worker; returns its pid and the master's end of its control channel.
pub(crate) fn spawn_worker(spec: WorkerSpec<'_>) -> std::io::Result<(Pid, MasterControl)> {
    let (master_end, worker_end) = control::channel()?;
    let master_pid = Pid::this();
    let blocked = SignalsBlocked::block_all()?;
    // SAFETY: the master is single-threaded, so the child inherits no lock held by another thread.
    match unsafe { fork() }.map_err(std::io::Error::from)? {
        ForkResult::Parent { child } => {
            drop(blocked);
            drop(worker_end);
            Ok((child, master_end))
        }
        ForkResult::Child => {
            let own_master_end = master_end.raw_fd();
            // A panic must not unwind out of the child into the master's loop.
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_child(spec, own_master_end, worker_end, master_pid)
            }))
            .unwrap_or_else(|_| {
                log::error!("worker panicked");
                EXIT_PANIC
            });
            std::process::exit(code)
        }
    }
}

fn run_child(
    spec: WorkerSpec<'_>,
    own_master_end: RawFd,
    control: control::WorkerControl,
    master_pid: Pid,
) -> i32 {
    set_log_role(LogRole::Worker { slot: spec.slot });
    reset_in_worker();
    let listeners = match duplicate_listeners(&spec.listeners) {
        Ok(listeners) => listeners,
        Err(e) => {
            log::error!("cannot set up listeners: {e}");
            return EXIT_SETUP_FAILED;
        }
    };
    for fd in spec.master_fds.iter().copied().chain([own_master_end]) {
        // SAFETY: these descriptors belong to master objects the child never uses or drops
        // (it leaves with process::exit), so nothing closes them twice.
        unsafe { libc::close(fd) };
    }
    if let Some(credentials) = spec.credentials
        && let Err(e) = credentials.apply()
    {
        log::error!("cannot switch to {}: {e}", credentials.description);
        return EXIT_SETUP_FAILED;
    }
    // After the credential change, which clears the parent-death signal.
    if let Err(e) = die_with_master(master_pid) {
        log::error!("{e}");
        return EXIT_SETUP_FAILED;
    }
    let start = WorkerStart {
        slot: spec.slot,
        generation: spec.generation,
        listeners,
        control,
    };
    spec.program.run_worker(start)
}

/// The child's own copies of its slot's sockets, so it owns them outright.
fn duplicate_listeners(
    listeners: &[(SocketAddr, RawFd)],
) -> std::io::Result<Vec<(SocketAddr, TcpListener)>> {
    listeners
        .iter()
        .map(|&(address, fd)| {
            // SAFETY: fd is a live listening socket held by the master's ReusePortListeners.
            let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
            if copy < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `copy` is a fresh descriptor owned by nobody else.
            let listener = unsafe { TcpListener::from_raw_fd(copy) };
            listener.set_nonblocking(true)?;
            Ok((address, listener))
        })
        .collect()
}

/// Linux: SIGKILL when the master dies (workers ignore TERM). Everywhere: the control
/// channel's EOF ends the worker too; this makes it independent of the worker's loop.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn die_with_master(master_pid: Pid) -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))?;
    // The master may have died before prctl took effect.
    if getppid() != master_pid {
        return Err("master exited during worker start-up".to_string());
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_master(master_pid: Pid) -> Result<(), String> {
    if getppid() != master_pid {
        return Err("master exited during worker start-up".to_string());
    }
    Ok(())
}
