//! One TCP connection on the reactor: its write queue, read state and deadlines.

use super::options::SocketOptions;
use crate::engine::data::{Data, Piece};
use crate::engine::piped::SpliceRead;
use crate::engine::pipeline::PipelineId;
use bytes::BytesMut;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Instant;

/// Accepted from a listener, or opened by `connect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Inbound {
        listener: usize,
    },
    Outbound,
    /// Was inbound; its pipeline has ended and its last response is written. The write side is
    /// shut and what the client still sends is read and dropped, until it closes or [`LINGER`]
    /// passes. Closing with bytes unread would make the kernel reset the connection, and a
    /// reset can destroy the response before the client reads it (RFC 9112 §9.6; nginx's
    /// `lingering_close`).
    Lingering,
}

/// How long a lingering connection is read after its last write before it is closed anyway
/// (nginx: `lingering_timeout` 5 s, `lingering_time` 30 s; a client still sending after two
/// seconds has had its answer long enough).
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Bytes received on socket `fd` and not yet read (`FIONREAD`); 0 when unknown.
pub fn unread_bytes(fd: std::os::fd::RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0 {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// Where bytes read from the socket go.
#[derive(Clone, Copy, Debug)]
pub enum ReadTarget {
    /// Input of a root pipeline (inbound connections).
    Pipeline(PipelineId),
    /// A `Signal::Socket` to the filter that owns the socket (`connect`).
    Filter {
        pipeline: PipelineId,
        filter: usize,
        tag: u64,
    },
}

/// Life cycle of the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Non-blocking connect in progress.
    Connecting,
    Open,
    /// Output ended: shut down the write side once the queue is flushed (half-close).
    ShutdownAfterFlush,
    /// Close the socket once the queue is flushed.
    CloseAfterFlush,
    /// Write side shut down; still reading.
    WriteShut,
}

pub struct Conn {
    pub stream: mio::net::TcpStream,
    pub role: Role,
    pub reader: ReadTarget,
    pub state: ConnState,
    pub wbuf: Data,
    /// Peer sent EOF.
    pub read_eof: bool,
    /// Reading stopped because an output this socket feeds is backed up.
    pub paused: bool,
    /// Sockets paused because this one's write queue is over the high-water mark.
    pub blocked_sources: Vec<(usize, u64)>,
    /// Write interest is registered (the last flush hit `WouldBlock`).
    pub want_write: bool,
    /// Shared with the listener or the `connect` filter the connection came from: 64 bytes
    /// fewer per connection than a copy.
    pub opts: Rc<SocketOptions>,
    pub created: Instant,
    pub last_read: Instant,
    pub last_write: Instant,
    /// Unique in this worker: names the connection in logs and tells it from a later one in
    /// the same socket slot.
    pub id: u64,
    pub peer: std::net::SocketAddr,
    /// The socket's receive low-water mark (`recv_lowat`), `recv_lowat::OFF` unless a bulk
    /// body is being read. Marks stay under `recv_lowat::MAX` (256 KiB); 32 bits pack beside
    /// the descriptor and keep `Conn` in a smaller malloc size class.
    recv_lowat: u32,
    /// A `recv_lowat::BACKSTOP` timer is armed for this connection.
    pub lowat_backstop: bool,
    /// Inbound: the client sent bytes its pipeline will not answer (read after the pipeline
    /// ended, or left over when it chose to close), so closing lingers ([`Role::Lingering`]).
    pub unanswered_input: bool,
    /// The current bulk body is being spliced through pipes (logged once per body).
    splicing: bool,
}

impl Conn {
    pub fn new(
        stream: mio::net::TcpStream,
        role: Role,
        reader: ReadTarget,
        state: ConnState,
        opts: Rc<SocketOptions>,
        id: u64,
        peer: std::net::SocketAddr,
    ) -> Conn {
        let now = Instant::now();
        Conn {
            stream,
            role,
            reader,
            state,
            wbuf: Data::new(),
            read_eof: false,
            paused: false,
            blocked_sources: Vec::new(),
            want_write: false,
            opts,
            created: now,
            last_read: now,
            last_write: now,
            id,
            peer,
            recv_lowat: super::recv_lowat::OFF as u32,
            lowat_backstop: false,
            unanswered_input: false,
            splicing: false,
        }
    }

    /// Sets the receive low-water mark; a failure leaves the socket as it was (one byte).
    pub fn set_recv_lowat(&mut self, bytes: usize) {
        let Ok(mark) = u32::try_from(bytes) else {
            log::debug!("socket #{}: SO_RCVLOWAT {bytes}: too large", self.id);
            return;
        };
        match super::recv_lowat::set(self.stream.as_raw_fd(), bytes) {
            Ok(()) => {
                self.recv_lowat = mark;
                if bytes == super::recv_lowat::OFF {
                    self.splicing = false;
                }
            }
            Err(e) => log::debug!("socket #{}: SO_RCVLOWAT {bytes}: {e}", self.id),
        }
    }

    /// The socket's receive low-water mark in bytes.
    pub fn recv_lowat(&self) -> usize {
        self.recv_lowat as usize
    }

    /// Reads once into `buf`'s spare capacity. `Ok(None)` = would block, `Ok(Some((empty, _)))`
    /// = EOF; otherwise the bytes and whether the read filled the space offered (more may wait).
    /// With a low-water mark up, the bytes are a bulk body its consumer has promised to take
    /// whole: they are spliced into a pipe instead, up to the mark (`engine::piped`).
    pub fn read_once(
        &mut self,
        buf: &mut BytesMut,
        chunk: usize,
        now: Instant,
    ) -> io::Result<Option<(Data, bool)>> {
        let mark = self.recv_lowat();
        if mark > super::recv_lowat::OFF {
            match crate::engine::piped::splice_from(self.stream.as_raw_fd(), mark)? {
                SpliceRead::Got(p) => {
                    if !self.splicing {
                        self.splicing = true;
                        log::debug!("socket #{}: bulk input spliced through a pipe", self.id);
                    }
                    self.last_read = now;
                    let d = Data::from(Piece::Piped(Box::new(p)));
                    // A short splice may mean a full pipe rather than a drained socket (a pipe
                    // holds so many pages, however little each carries): read on until the
                    // socket says it is empty, or its readiness (edge-triggered) is lost.
                    return Ok(Some((d, true)));
                }
                SpliceRead::Eof => return Ok(Some((Data::new(), false))),
                SpliceRead::WouldBlock => return Ok(None),
                SpliceRead::Unavailable => {}
            }
        }
        // With a low-water mark set, at least that much is queued when we are woken: offer room
        // for all of it, so it leaves in one read (and one write downstream).
        let (floor, size) = if mark > super::recv_lowat::OFF {
            (mark, mark)
        } else {
            (chunk / 4, chunk)
        };
        if buf.capacity() - buf.len() < floor {
            buf.reserve(size);
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: `read(2)` writes at most `spare.len()` bytes into the spare capacity and we only
        // extend the length by what it reports written.
        let n = unsafe {
            libc::read(
                self.stream.as_raw_fd(),
                spare.as_mut_ptr() as *mut libc::c_void,
                spare.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let full = n == spare.len();
        // SAFETY: the kernel initialised `n` bytes.
        unsafe { buf.set_len(buf.len() + n) };
        self.last_read = now;
        Ok(Some((Data::from(buf.split().freeze()), full)))
    }

    /// Writes as much of the queue as the socket takes: the bytes in memory with one `writev`
    /// per round, a piece waiting in a pipe with `splice`. Returns `Ok(true)` when the queue
    /// is empty.
    pub fn flush(&mut self, now: Instant) -> io::Result<bool> {
        const MAX_IOV: usize = 64;
        let fd = self.stream.as_raw_fd();
        while !self.wbuf.is_empty() {
            let more = self.wbuf.chunk_count() > 1;
            let written = if let Some(p) = self.wbuf.front_in_pipe() {
                // `more`: a chunk's end (or the next response) follows right behind.
                p.splice_to(fd, more).inspect(|&n| self.wbuf.spliced(n))
            } else {
                let mut slices: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
                let mut n = 0;
                let mut bytes = 0;
                for c in self.wbuf.leading_bytes().take(MAX_IOV) {
                    slices[n] = IoSlice::new(c);
                    n += 1;
                    bytes += c.len();
                }
                // A piped piece right behind (a chunk-size line before its body, say) joins
                // these bytes in one segment: `MSG_MORE` holds a short one back.
                let piped_next = bytes < self.wbuf.len() && n < MAX_IOV;
                send_vectored(fd, &slices[..n], piped_next).inspect(|&w| self.wbuf.consume(w))
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => self.last_write = now,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// `writev`, or `sendmsg` with `MSG_MORE` when `more` bytes follow at once.
fn send_vectored(fd: RawFd, slices: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
    let n = if more {
        // SAFETY: `msghdr` is plain data; every field the kernel reads is set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = slices.len() as _;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the slices outlive the call.
        unsafe { libc::sendmsg(fd, &msg, libc::MSG_MORE | libc::MSG_NOSIGNAL) }
    } else {
        // SAFETY: as above; `writev` reads `slices.len()` iovecs.
        unsafe {
            libc::writev(
                fd,
                slices.as_ptr() as *const libc::iovec,
                slices.len() as libc::c_int,
            )
        }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::Conn;

    /// Every connection holds one `Conn`. glibc rounds an allocation plus its 8-byte header up
    /// to 16, so 232 bytes is the most that fits the 240-byte chunk: one more field costs 16
    /// bytes per idle keep-alive connection (bench: *memory*).
    #[test]
    fn conn_stays_within_its_malloc_size_class() {
        // Debug builds of mio add a selector id to each socket.
        let debug_extra = (size_of::<mio::net::TcpStream>() - size_of::<std::net::TcpStream>())
            .next_multiple_of(8);
        assert!(
            size_of::<Conn>() <= 232 + debug_extra,
            "{}",
            size_of::<Conn>()
        );
    }
}
