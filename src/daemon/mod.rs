//! The daemon: a master process that evaluates the script, holds the listening sockets, forks one
//! worker per slot, and replaces, supervises and stops the workers on signals (the process model
//! of nginx's `ngx_process_cycle.c`). It knows nothing about HTTP or JS: the script is behind
//! [`ScriptLoader`] and [`Program`].

pub mod backoff;
pub mod control;
pub mod fd_limit;
pub mod listeners;
pub mod logging;
pub mod master;
pub mod notify;
pub mod pidfile;
pub mod privileges;
pub mod signal_command;
pub mod signals;
pub mod spawn;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

pub use logging::{LogRole, init_logging, set_log_role};
pub use master::run_master;
pub use signal_command::send_signal;

/// What the daemon needs from an evaluated script. Produced in the master by
/// [`ScriptLoader::load`], inherited by forked workers (a worker never re-parses the script).
pub trait Program {
    /// Every address the script listens on. The master binds one SO_REUSEPORT socket per
    /// worker slot for each (duplicates are ignored).
    fn listen_addrs(&self) -> Vec<SocketAddr>;
    /// Runs in the forked child; returns the process exit code. Never called in the master.
    fn run_worker(&self, start: WorkerStart) -> i32;
}

/// Evaluates the script into a [`Program`].
pub trait ScriptLoader {
    /// Evaluates the script (again, on reload). `Err` holds a message ready for the log, e.g.
    /// `hello.js:3:7: SyntaxError: ...`.
    fn load(&mut self) -> Result<Box<dyn Program>, String>;
}

/// Everything a worker gets from the master.
#[derive(Debug)]
pub struct WorkerStart {
    /// The worker's slot, `0..workers`.
    pub slot: usize,
    /// 1 for the first generation, +1 per successful reload.
    pub generation: u64,
    /// This worker's listening sockets, non-blocking, one per listen address, keyed by the
    /// address as returned by [`Program::listen_addrs`].
    pub listeners: Vec<(SocketAddr, TcpListener)>,
    /// The worker's end of its control channel.
    pub control: control::WorkerControl,
}

/// How long draining workers may take at reload or stop (`--drain-timeout`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the master runs.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Number of worker slots (`PIPY_SPAWN + 1`); 0 is treated as 1.
    pub workers: usize,
    /// Written once the first workers are forked, removed on exit.
    pub pid_file: Option<PathBuf>,
    /// How long a draining worker may take before it is told to quit.
    pub drain_timeout: Duration,
    /// User the workers switch to (master must be root).
    pub user: Option<String>,
    /// Group the workers switch to (master must be root).
    pub group: Option<String>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            workers: 1,
            pid_file: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            user: None,
            group: None,
        }
    }
}
