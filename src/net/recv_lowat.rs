//! Receive low-water marks for bulk bodies (`SO_RCVLOWAT`, socket(7)).
//!
//! A proxy relaying a large body from a fast sender (an upstream's response, a client's upload)
//! is otherwise woken for every segment that arrives (on loopback one paced skb of up to 64 KiB
//! at a time) and forwards each with its own `read` and `writev`. With the mark set to what is
//! certain to come, epoll reports the socket once that much is queued, and the body moves in a
//! few large reads and writes. Measured on the bench's `large` scenario (1 MiB responses, 6
//! interleaved rounds): worker CPU per response 754 → 607 µs; see bench/ANALYSIS.md.
//!
//! The mark never asks for more than the body's framing still promises, so the socket always
//! becomes readable; and it is only raised after a read found at least [`ENGAGE_AFTER`] bytes
//! waiting (a sender outrunning us). If the sender slows down, a backstop timer lowers the mark
//! again after [`BACKSTOP`] without a read, which bounds the delay a slowing sender can see.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Highest mark: one read of this size is one `writev` to the client.
pub const MAX: usize = 256 << 10;
/// A read that returned at least this much found the sender ahead of us: bulk data.
pub const ENGAGE_AFTER: usize = 32 << 10;
/// Without a read for this long, the mark goes back to one byte.
pub const BACKSTOP: Duration = Duration::from_millis(2);
/// The kernel's default: readable as soon as one byte is queued.
pub const OFF: usize = 1;

/// The mark for a socket after a read of `read` bytes, when its consumer expects `promised`
/// more bytes (`None`: no framing promise, e.g. between messages or between chunks).
pub fn mark_after(read: usize, promised: Option<u64>) -> usize {
    match promised {
        Some(p) if read >= ENGAGE_AFTER && p > OFF as u64 => p.min(MAX as u64) as usize,
        _ => OFF,
    }
}

/// Sets the socket's receive low-water mark.
pub fn set(fd: RawFd, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `v` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_set_only_for_bulk_reads_with_a_promise() {
        assert_eq!(mark_after(ENGAGE_AFTER, Some(1 << 20)), MAX);
        assert_eq!(mark_after(ENGAGE_AFTER, Some(100_000)), 100_000);
        assert_eq!(mark_after(ENGAGE_AFTER - 1, Some(1 << 20)), OFF);
        assert_eq!(mark_after(1 << 20, None), OFF);
        assert_eq!(mark_after(1 << 20, Some(1)), OFF);
    }

    #[test]
    fn the_kernel_takes_the_mark() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        set(s.as_raw_fd(), 4096).unwrap();
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` and `len` are valid for the call.
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                &mut v as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        assert_eq!((rc, v), (0, 4096));
    }
}
