//! `pipy --signal=reload|stop|quit --pid-file=PATH`: signal a running master found by its pid
//! file.

use std::path::Path;

use nix::sys::signal::{Signal, kill};

use super::pidfile::read_pid;

/// The signal a `--signal=` word stands for.
pub fn signal_for(which: &str) -> Option<Signal> {
    match which {
        "reload" => Some(Signal::SIGHUP),
        "stop" => Some(Signal::SIGTERM),
        "quit" => Some(Signal::SIGQUIT),
        _ => None,
    }
}

/// Reads the pid file and sends `signal` (see `signal_for`); returns the process exit code
/// (errors are logged).
pub fn send_signal(pid_file: &Path, signal: Signal) -> i32 {
    let pid = match read_pid(pid_file) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            log::error!(
                "pid file {} does not exist; is pipy running?",
                pid_file.display()
            );
            return 1;
        }
        Err(message) => {
            log::error!("{message}");
            return 1;
        }
    };
    match kill(pid, signal) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("cannot send {signal} to pid {pid}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_signals() {
        assert_eq!(signal_for("reload"), Some(Signal::SIGHUP));
        assert_eq!(signal_for("stop"), Some(Signal::SIGTERM));
        assert_eq!(signal_for("quit"), Some(Signal::SIGQUIT));
        assert_eq!(signal_for("restart"), None);
    }

    #[test]
    fn missing_pid_file_fails() {
        let path = std::env::temp_dir().join("pipy-signal-test-missing.pid");
        assert_eq!(send_signal(&path, Signal::SIGHUP), 1);
    }
}
