//! SIGTERM (and SIGINT without a master) → drain, through a raw `sigaction` and a self-pipe.
//!
//! signal-hook is not used here: a forked worker inherits the master's signal-hook registry,
//! which believes its handlers are still installed after the daemon reset the dispositions, so
//! registering through it again would leave SIGTERM at its default action (kill).

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; the byte only wakes the event loop, and a full
        // pipe means a wake-up is already pending.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

/// Installs the handler for `signals`; `wake` is the write end of a pipe the event loop polls.
/// The descriptor is kept open for the life of the process.
pub fn install(signals: &[Signal], wake: OwnedFd) -> nix::Result<()> {
    WAKE_FD.store(wake.as_raw_fd(), Ordering::SeqCst);
    std::mem::forget(wake);
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for &sig in signals {
        // SAFETY: the handler only touches atomics and calls write(2).
        unsafe { sigaction(sig, &action)? };
    }
    Ok(())
}

/// Whether a stop signal arrived since the last call.
pub fn take_stop_request() -> bool {
    STOP_REQUESTED.swap(false, Ordering::SeqCst)
}
