//! Sockets on the worker's mio reactor: accepted (`Inbound`) and initiated (`Outbound`) TCP
//! streams with write buffers, timeouts and back-pressure.

pub mod addr;
pub mod conn;
pub mod listener;
pub mod options;
pub mod recv_lowat;

pub use conn::{Conn, ConnState, ReadTarget, Role};
