//! systemd's readiness protocol (sd_notify(3)): datagrams of `KEY=VALUE` lines sent to the
//! socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with '@').

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Where notifications go, if the service manager asked for them.
#[derive(Debug)]
enum NotifyTarget {
    Path(PathBuf),
    /// Linux abstract namespace, without the leading '@'.
    Abstract(Vec<u8>),
}

/// Sends state changes to the service manager; does nothing when `NOTIFY_SOCKET` is unset.
#[derive(Debug)]
pub struct Notifier {
    target: Option<NotifyTarget>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` from the environment.
    pub fn from_env() -> Self {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|value| {
            use std::os::unix::ffi::OsStrExt;
            let bytes = value.as_bytes();
            match bytes.first() {
                None => None,
                Some(b'@') => Some(NotifyTarget::Abstract(bytes[1..].to_vec())),
                Some(_) => Some(NotifyTarget::Path(PathBuf::from(value))),
            }
        });
        Notifier { target }
    }

    /// `READY=1`: the service is serving. `MAINPID` lets systemd track the master even if the
    /// message were relayed.
    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nMAINPID={}\nSTATUS={status}",
            std::process::id()
        ));
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` timestamp systemd requires to match the reload
    /// to the request (systemd.service(5), Type=notify-reload).
    pub fn reloading(&self) {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// `STOPPING=1`: the service is shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(e) = send_to(target, message.as_bytes()) {
            log::warn!("sd_notify to {target:?} failed: {e}");
        }
    }
}

fn send_to(target: &NotifyTarget, message: &[u8]) -> io::Result<usize> {
    let socket = UnixDatagram::unbound()?;
    match target {
        NotifyTarget::Path(path) => socket.send_to(message, path),
        NotifyTarget::Abstract(name) => send_to_abstract(&socket, name, message),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_to_abstract(socket: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message, &address)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_to_abstract(_socket: &UnixDatagram, _name: &[u8], _message: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

/// CLOCK_MONOTONIC in microseconds, the clock systemd compares reload requests against.
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    if rc != 0 {
        return 0;
    }
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path() {
        let dir = std::env::temp_dir().join(format!("pipy-notify-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier {
            target: Some(NotifyTarget::Path(path.clone())),
        };
        notifier.reloading();
        notifier.ready("serving");
        notifier.stopping();
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).expect("recv");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");
        let n = receiver.recv(&mut buf).expect("recv");
        assert!(buf[..n].starts_with(b"READY=1\nMAINPID="));
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
    }
}
