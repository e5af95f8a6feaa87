//! The pid file: written once the daemon serves, removed on exit, and used by
//! `pipy --signal=...` and rc scripts to find the master.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Reads the pid stored in `path`; `Ok(None)` when the file does not exist.
pub fn read_pid(path: &Path) -> Result<Option<Pid>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read pid file {}: {e}", path.display())),
    };
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(Some(Pid::from_raw(pid))),
        _ => Err(format!(
            "pid file {} does not hold a pid: {:?}",
            path.display(),
            text.trim()
        )),
    }
}

/// Whether a process with this pid exists (EPERM means it exists but belongs to someone else).
pub fn is_alive(pid: Pid) -> bool {
    matches!(kill(pid, None::<Signal>), Ok(()) | Err(Errno::EPERM))
}

/// Refuses to start when the pid file names a live process other than this one. A stale or
/// unreadable file is left for `PidFile::write` to overwrite.
pub fn check_not_running(path: &Path) -> Result<(), String> {
    match read_pid(path) {
        Ok(Some(pid)) if pid != Pid::this() && is_alive(pid) => Err(format!(
            "pid file {} names running process {pid}; is pipy already running?",
            path.display()
        )),
        Ok(_) => Ok(()),
        Err(message) => {
            log::warn!("{message}; overwriting it");
            Ok(())
        }
    }
}

/// A pid file this process wrote; removed when dropped (if it still names this process).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid (`pid\n`), replacing any stale file.
    pub fn write(path: &Path) -> Result<PidFile, String> {
        let text = format!("{}\n", std::process::id());
        // Write-then-rename so a reader never sees a half-written pid.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write pid file {}: {e}", path.display())
            })?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove our own file: a successor may already have replaced it.
        if let Ok(Some(pid)) = read_pid(&self.path)
            && pid == Pid::this()
            && let Err(e) = std::fs::remove_file(&self.path)
        {
            log::warn!("cannot remove pid file {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pipy-pidfile-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join(name)
    }

    #[test]
    fn write_then_remove_on_drop() {
        let path = temp_path("a.pid");
        let file = PidFile::write(&path).expect("write");
        assert_eq!(read_pid(&path).expect("read"), Some(Pid::this()));
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn missing_file_is_none() {
        assert_eq!(read_pid(&temp_path("missing.pid")).expect("read"), None);
    }

    #[test]
    fn live_process_refuses_start() {
        let path = temp_path("live.pid");
        // pid 1 always exists.
        std::fs::write(&path, "1\n").expect("write");
        assert!(check_not_running(&path).is_err());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn stale_or_garbage_file_is_accepted() {
        let path = temp_path("stale.pid");
        // Above the kernel's pid_max limit (4194304), so never alive.
        std::fs::write(&path, "99999999\n").expect("write");
        assert!(check_not_running(&path).is_ok());
        std::fs::write(&path, "garbage").expect("write");
        assert!(check_not_running(&path).is_ok());
        let _ = std::fs::remove_file(&path);
    }
}
