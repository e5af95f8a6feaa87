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
