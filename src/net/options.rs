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
/// Output queued during one loop turn is written out as soon as this much has piled up, instead
/// of at the end of the turn. Bulk transfers (a large response read in 64 KiB pieces from the
/// upstream) then hand the kernel buffers that are still in the CPU cache: waiting for the end
/// of the turn let a whole 1 MiB response pile up, and copying it out of memory that had left
/// the cache cost ~30% more worker CPU per response (bench `large`). Small messages stay far
/// below this and keep one `writev` per socket per turn.
pub const FLUSH_AT: usize = 32 << 10;
/// Bytes read from one socket before other sockets get a turn.
pub const READ_BUDGET: usize = 256 << 10;
/// Size of one read.
pub const READ_CHUNK: usize = 64 << 10;
