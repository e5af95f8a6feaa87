//! Socket options shared by `listen` and `connect`.

use std::time::Duration;

/// Timeouts and limits of one socket (reference §3.9).
#[derive(Clone, Debug)]
pub struct SocketOptions {
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// Bytes of unsent output tolerated before the stream fails with `BufferOverflow` (0 = unlimited).
    pub buffer_limit: usize,
}

/// Default idle timeout of both inbound and outbound connections (reference §3.9: 60 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            connect_timeout: None,
            read_timeout: None,
            write_timeout: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            buffer_limit: 0,
        }
    }
}

/// Output queued beyond this many bytes pauses whatever input produced it.
pub const WRITE_HIGH_WATER: usize = 1 << 20;
/// Paused inputs resume once the queue is back under this.
pub const WRITE_LOW_WATER: usize = 256 << 10;
/// Bytes read from one socket before other sockets get a turn.
pub const READ_BUDGET: usize = 256 << 10;
/// Size of one read.
pub const READ_CHUNK: usize = 64 << 10;
