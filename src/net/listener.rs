//! A listening socket of this worker and the `listen` options that govern it.

use super::options::SocketOptions;
use crate::engine::pipeline::LayoutId;
use std::net::SocketAddr;
use std::rc::Rc;

/// `listen` options (reference §3.9).
#[derive(Clone, Debug, Default)]
pub struct ListenOptions {
    pub max_connections: Option<usize>,
    pub socket: SocketOptions,
}

pub struct Listener {
    pub addr: SocketAddr,
    pub socket: mio::net::TcpListener,
    pub layout: LayoutId,
    /// `listen`'s `maxConnections`.
    pub max_connections: Option<usize>,
    /// `listen`'s socket options, shared by the connections accepted here.
    pub socket_options: Rc<SocketOptions>,
    pub active: usize,
    pub accepting: Accepting,
    /// Since when `accept` has failed for want of descriptors or memory; `None` while it
    /// works.
    pub starved_since: Option<std::time::Instant>,
    /// A timer will call `accept` again ([`ACCEPT_RETRY`]).
    pub retry_armed: bool,
}

/// How long a listener whose `accept` failed for want of descriptors or memory waits before
/// trying again. Its connections stay queued meanwhile, and nothing else would wake it: the
/// readiness that reported them was spent on the failed `accept`. nginx waits 500 ms
/// (`accept_mutex_delay`); a shorter wait serves the queue sooner once descriptors free up,
/// at ten failed `accept`s a second while they do not.
pub const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// What a failed `accept` means for the connections behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptFailure {
    /// This connection is gone (aborted in the queue, or a network error that Linux passes on
    /// from the new socket, accept(2) "Error handling"): take the next one.
    ConnectionLost,
    /// The process or the system is out of descriptors or memory: nothing can be taken until
    /// some are freed.
    OutOfResources,
    /// Anything else: try again later rather than leave the queue stuck.
    Other,
}

impl AcceptFailure {
    pub fn of(e: &std::io::Error) -> AcceptFailure {
        match e.raw_os_error() {
            Some(
                libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
                | libc::ECONNRESET,
            ) => AcceptFailure::ConnectionLost,
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptFailure::OutOfResources
            }
            _ => AcceptFailure::Other,
        }
    }
}

/// Whether a listener takes new connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepting {
    Open,
    /// Deregistered until a connection closes: `maxConnections` are open.
    Full,
    /// Deregistered for good: the worker is draining.
    Closed,
}

/// Connections waiting in the accept queue of listening socket `fd`, where the system says
/// (Linux reports it as `tcpi_unacked` of a listener's `TCP_INFO`); `None` elsewhere or on
/// error.
///
/// The worker's listeners are edge-triggered, so it must accept until the queue is empty. An
/// `accept` that finds it empty is not cheap: the kernel allocates the new socket and its file
/// before it looks and frees them again. Asking for the queue's length instead costs a plain
/// `getsockopt`, and a connection queued after it raises a new edge.
#[cfg(target_os = "linux")]
pub fn queued_connections(fd: std::os::fd::RawFd) -> Option<usize> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable `tcp_info` of `len` bytes; the kernel writes at most that.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: zero-initialised, then filled in by the kernel.
    let info = unsafe { info.assume_init() };
    usize::try_from(info.tcpi_unacked).ok()
}

#[cfg(not(target_os = "linux"))]
pub fn queued_connections(_fd: std::os::fd::RawFd) -> Option<usize> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{AcceptFailure, queued_connections};
    use std::os::fd::AsRawFd;

    #[test]
    fn accept_failures_are_told_apart() {
        let of = |errno| AcceptFailure::of(&std::io::Error::from_raw_os_error(errno));
        assert_eq!(of(libc::ECONNABORTED), AcceptFailure::ConnectionLost);
        assert_eq!(of(libc::EHOSTUNREACH), AcceptFailure::ConnectionLost);
        assert_eq!(of(libc::EMFILE), AcceptFailure::OutOfResources);
        assert_eq!(of(libc::ENFILE), AcceptFailure::OutOfResources);
        assert_eq!(of(libc::EBADF), AcceptFailure::Other);
    }

    #[test]
    fn counts_connections_waiting_to_be_accepted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        assert_eq!(queued_connections(listener.as_raw_fd()), Some(0));
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(address).expect("connect"))
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while queued_connections(listener.as_raw_fd()) != Some(3) {
            assert!(
                std::time::Instant::now() < deadline,
                "three handshakes never queued"
            );
            std::thread::yield_now();
        }
        let _first = listener.accept().expect("accept");
        assert_eq!(queued_connections(listener.as_raw_fd()), Some(2));
        drop(clients);
    }
}
