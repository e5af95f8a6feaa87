//! The master's listening sockets: for every listen address one SO_REUSEPORT socket per worker
//! slot. The kernel spreads incoming connections over the slot sockets; a socket outlives the
//! workers using it, so a connection queued on it while workers are replaced is never reset.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// listen(2) backlog; the kernel clamps it to `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 1024;

/// The sockets of one listen address, indexed by slot.
#[derive(Debug)]
struct AddressSockets {
    address: SocketAddr,
    by_slot: Vec<Socket>,
}

/// Every listening socket the master holds, per address, one per slot.
#[derive(Debug)]
pub struct ReusePortListeners {
    slots: usize,
    addresses: Vec<AddressSockets>,
}

impl ReusePortListeners {
    /// No sockets yet, for `slots` worker slots.
    pub fn new(slots: usize) -> Self {
        ReusePortListeners {
            slots,
            addresses: Vec::new(),
        }
    }

    /// Binds every address of `wanted` not bound yet. All or nothing: on error the sockets
    /// bound by this call are closed and the message names the address.
    pub fn bind_missing(&mut self, wanted: &[SocketAddr]) -> Result<(), String> {
        let mut fresh = Vec::new();
        for &address in wanted {
            if self.contains(address) || fresh.iter().any(|a: &AddressSockets| a.address == address)
            {
                continue;
            }
            fresh.push(bind_slots(address, self.slots)?);
        }
        for bound in &fresh {
            log::info!(
                "listening on {} ({} sockets)",
                bound.address,
                bound.by_slot.len()
            );
        }
        self.addresses.extend(fresh);
        Ok(())
    }

    /// Closes the sockets of every address not in `keep`.
    pub fn retain(&mut self, keep: &HashSet<SocketAddr>) {
        self.addresses.retain(|bound| {
            let stays = keep.contains(&bound.address);
            if !stays {
                log::info!("closing listener {}", bound.address);
            }
            stays
        });
    }

    /// Whether `address` is bound.
    pub fn contains(&self, address: SocketAddr) -> bool {
        self.addresses.iter().any(|bound| bound.address == address)
    }

    /// The descriptors of `slot` for `addresses` (addresses not bound are skipped).
    pub fn slot_fds(&self, slot: usize, addresses: &[SocketAddr]) -> Vec<(SocketAddr, RawFd)> {
        addresses
            .iter()
            .filter_map(|&address| {
                let bound = self.addresses.iter().find(|b| b.address == address)?;
                Some((address, bound.by_slot.get(slot)?.as_raw_fd()))
            })
            .collect()
    }

    /// Every descriptor held, for closing in a forked worker.
    pub fn all_fds(&self) -> Vec<RawFd> {
        self.addresses
            .iter()
            .flat_map(|bound| bound.by_slot.iter().map(AsRawFd::as_raw_fd))
            .collect()
    }
}

fn bind_slots(address: SocketAddr, slots: usize) -> Result<AddressSockets, String> {
    let mut by_slot = Vec::with_capacity(slots);
    // Port 0 asks the kernel for a port; the other slots must then share the one it picked.
    let mut effective = address;
    for _ in 0..slots {
        let socket = bind_one(effective).map_err(|e| format!("cannot listen on {address}: {e}"))?;
        if effective.port() == 0
            && let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket())
        {
            effective.set_port(local.port());
        }
        by_slot.push(socket);
    }
    Ok(AddressSockets { address, by_slot })
}

/// One listening socket: SO_REUSEPORT (or FreeBSD's balancing form), non-blocking.
pub fn bind_one(address: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    set_reuse_port(&socket)?;
    // Accepted sockets inherit it (Linux, FreeBSD), so the worker saves a setsockopt per
    // connection; see `worker::accept`.
    socket.set_nodelay(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// FreeBSD's plain SO_REUSEPORT does not balance (the last socket bound gets everything);
/// SO_REUSEPORT_LB does.
#[cfg(target_os = "freebsd")]
fn set_reuse_port(socket: &Socket) -> std::io::Result<()> {
    socket.set_reuse_port_lb(true)
}

#[cfg(not(target_os = "freebsd"))]
fn set_reuse_port(socket: &Socket) -> std::io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_any_port() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[test]
    fn binds_one_socket_per_slot_on_one_port() {
        let mut listeners = ReusePortListeners::new(3);
        listeners
            .bind_missing(&[loopback_any_port()])
            .expect("bind");
        let fds = (0..3)
            .map(|slot| listeners.slot_fds(slot, &[loopback_any_port()]))
            .collect::<Vec<_>>();
        assert!(fds.iter().all(|f| f.len() == 1));
        let ports = fds
            .iter()
            .map(|f| {
                // SAFETY: the fd stays open while `listeners` lives.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(f[0].1) };
                let socket = socket2::SockRef::from(&fd);
                socket
                    .local_addr()
                    .expect("addr")
                    .as_socket()
                    .expect("inet")
                    .port()
            })
            .collect::<HashSet<_>>();
        assert_eq!(ports.len(), 1);
        assert_eq!(listeners.all_fds().len(), 3);
    }

    /// The worker skips `TCP_NODELAY` per accepted connection on these systems because the
    /// listener's setting is inherited; this checks the kernel really does that.
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    #[test]
    fn accepted_connections_inherit_nodelay() {
        let listener: std::net::TcpListener = bind_one(loopback_any_port()).expect("bind").into();
        let address = listener.local_addr().expect("addr");
        let _client = std::net::TcpStream::connect(address).expect("connect");
        listener.set_nonblocking(false).expect("blocking");
        let (accepted, _) = listener.accept().expect("accept");
        assert!(accepted.nodelay().expect("getsockopt"));
    }

    #[test]
    fn port_taken_without_reuseport_fails_cleanly() {
        let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = blocker.local_addr().expect("addr");
        let mut listeners = ReusePortListeners::new(2);
        let err = listeners
            .bind_missing(&[loopback_any_port(), taken])
            .expect_err("in use");
        assert!(err.contains(&taken.to_string()), "{err}");
        assert!(listeners.all_fds().is_empty());
    }

    #[test]
    fn retain_closes_removed_addresses() {
        let mut listeners = ReusePortListeners::new(1);
        let a = loopback_any_port();
        let b = SocketAddr::from(([127, 0, 0, 2], 0));
        listeners.bind_missing(&[a, b]).expect("bind");
        listeners.retain(&HashSet::from([b]));
        assert!(!listeners.contains(a));
        assert!(listeners.contains(b));
    }
}
