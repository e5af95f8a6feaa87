//! The worker's view of its master: a channel that carries "ready" up and commands down.

use std::os::fd::RawFd;

/// A master's command to a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Stop accepting, finish in-flight work, exit.
    Drain,
    /// Exit now.
    Quit,
}

/// The worker end of the master's control channel.
pub trait ControlPort {
    /// Descriptor to watch for readability in the worker's poll.
    fn fd(&self) -> RawFd;
    /// Called once the listeners are registered and the worker serves.
    fn ready(&mut self) -> std::io::Result<()>;
    /// Next pending command; `Ok(None)` when none; `Err` when the master is gone.
    fn poll_command(&mut self) -> std::io::Result<Option<Command>>;
    /// Called once the worker has stopped accepting after a drain request.
    fn draining(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
