//! Bytes held in a kernel pipe: zero-copy forwarding of bulk bodies (`splice(2)`).
//!
//! A proxy relaying a large body would otherwise copy every byte twice: from the upstream
//! socket into user space, and from there into the client's socket (40% of the worker's CPU
//! on the bench's `large` scenario). When a socket's consumer has promised that the next bytes
//! are body bytes (the receive low-water mark is up, `net::recv_lowat`), the connection
//! splices them into a pipe ([`splice_from`]) and passes the pipe along the pipeline as one
//! piece of a `Data` ([`PipedBytes`]). The connection that finally writes it splices the pipe
//! out ([`PipedBytes::splice_to`]): the pages move by reference, and nothing is copied in this
//! process. This module only sees descriptors; `net` decides when a socket's bytes qualify.
//!
//! Whatever looks at the bytes on the way (a script, a compressor, a second reader) gets them
//! copied out of the pipe on first access ([`PipedBytes::bytes`]), which costs what the plain
//! read would have. Pipes are pooled per worker thread and their number is bounded
//! ([`MAX_PIPES`]); past it, and wherever `splice` fails, the connection reads as before.

use bytes::{Bytes, BytesMut};
use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Most pipes (each two descriptors) a worker holds at once, in use or pooled. Bounds what
/// bodies buffered by a script or queued for slow clients can pin. Under the bench's `large`
/// load a worker holds one or two: most pieces leave their pipe in the turn that filled it.
pub const MAX_PIPES: usize = 128;
/// Idle pipes kept for reuse; the rest are closed.
const POOLED: usize = 32;
/// Capacity asked of a new pipe: a full low-water mark's worth (`recv_lowat::MAX`), so one
/// splice takes what one read would have. A pipe refused that size keeps the kernel's default
/// of 64 KiB and gives smaller pieces; for smaller pipes still, see [`MIN_PIPE_SIZE`].
const PIPE_SIZE: libc::c_int = 256 << 10;

/// Smaller pipes (what a user over the kernel's soft limit gets) are not worth a splice.
const MIN_PIPE_SIZE: libc::c_int = 64 << 10;

/// Off with `--no-splice`, or once the kernel refused `splice` on a socket.
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns zero-copy forwarding on or off for this process (`--no-splice`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn open() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let pipe = unsafe {
            Pipe {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        };
        let fd = pipe.write.as_raw_fd();
        // SAFETY: plain fcntls on a descriptor we own; a refused size leaves the default.
        let size = unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE);
            libc::fcntl(fd, libc::F_GETPIPE_SZ)
        };
        if size < MIN_PIPE_SIZE {
            // A user over `pipe-user-pages-soft` gets two-page pipes: more splices than reads.
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the kernel gives this user pipes of {size} bytes"),
            ));
        }
        Ok(pipe)
    }
}

/// The worker's pipes: idle ones for reuse and a count of all it holds.
#[derive(Default)]
struct PipePool {
    idle: Vec<Pipe>,
    held: usize,
}

thread_local! {
    static POOL: RefCell<PipePool> = RefCell::default();
}

fn take_pipe() -> Option<Pipe> {
    POOL.with_borrow_mut(|pool| {
        if let Some(p) = pool.idle.pop() {
            return Some(p);
        }
        if pool.held >= MAX_PIPES {
            return None;
        }
        match Pipe::open() {
            Ok(p) => {
                pool.held += 1;
                Some(p)
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                log::warn!("{e}; bulk bodies are copied from now on");
                set_enabled(false);
                None
            }
            Err(e) => {
                log::debug!("pipe for splicing: {e}");
                None
            }
        }
    })
}

/// Returns an empty pipe to the pool, or closes it.
fn give_back(pipe: Pipe, empty: bool) {
    // A piece dropped while the thread's locals are torn down finds no pool: the closure is
    // not run, and dropping it closes the pipe.
    let _ = POOL.try_with(move |pool| {
        let mut pool = pool.borrow_mut();
        if empty && pool.idle.len() < POOLED {
            pool.idle.push(pipe);
        } else {
            pool.held -= 1;
        }
    });
}

/// What splicing from a socket gave.
pub enum SpliceRead {
    Got(PipedBytes),
    Eof,
    WouldBlock,
    /// No pipe to spare or no `splice` for this socket: read it the usual way.
    Unavailable,
}

/// Moves up to `max` bytes queued on descriptor `fd` (a socket) into a pipe.
pub fn splice_from(fd: RawFd, max: usize) -> io::Result<SpliceRead> {
    if !enabled() {
        return Ok(SpliceRead::Unavailable);
    }
    let Some(pipe) = take_pipe() else {
        return Ok(SpliceRead::Unavailable);
    };
    // SAFETY: plain splice between descriptors we hold; no user memory is involved.
    let n = unsafe {
        libc::splice(
            fd,
            std::ptr::null_mut(),
            pipe.write.as_raw_fd(),
            std::ptr::null_mut(),
            max,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n > 0 {
        return Ok(SpliceRead::Got(PipedBytes {
            pipe: Some(pipe),
            len: Cell::new(n as usize),
            copy: OnceCell::new(),
        }));
    }
    give_back(pipe, true);
    if n == 0 {
        return Ok(SpliceRead::Eof);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(SpliceRead::WouldBlock),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
            log::warn!("splice is not available here ({e}); bodies are copied");
            set_enabled(false);
            Ok(SpliceRead::Unavailable)
        }
        _ => Err(e),
    }
}

/// Body bytes waiting in a pipe: one piece of a `Data`.
///
/// Its bytes are either still in the pipe (to be spliced out to a socket) or, once something
/// looked at them, copied out into [`Self::bytes`]; then they are written like any others.
pub struct PipedBytes {
    pipe: Option<Pipe>,
    /// Bytes in the pipe (before they are copied out).
    len: Cell<usize>,
    copy: OnceCell<Bytes>,
}

impl PipedBytes {
    pub fn len(&self) -> usize {
        match self.copy.get() {
            Some(b) => b.len(),
            None => self.len.get(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the bytes are still in the pipe, to be spliced.
    pub fn in_pipe(&self) -> bool {
        self.copy.get().is_none()
    }

    /// The bytes, copied out of the pipe on first use.
    pub fn bytes(&self) -> &Bytes {
        self.copy.get_or_init(|| {
            let want = self.len.get();
            let mut buf = BytesMut::with_capacity(want);
            if let Some(pipe) = &self.pipe {
                while buf.len() < want {
                    let spare = buf.spare_capacity_mut();
                    // SAFETY: `read(2)` writes at most `spare.len()` bytes into the spare
                    // capacity; the length is extended only by what it reports.
                    let n = unsafe {
                        libc::read(
                            pipe.read.as_raw_fd(),
                            spare.as_mut_ptr() as *mut libc::c_void,
                            want - buf.len(),
                        )
                    };
                    if n <= 0 {
                        break;
                    }
                    // SAFETY: the kernel initialised `n` bytes.
                    unsafe { buf.set_len(buf.len() + n as usize) };
                }
            }
            if buf.len() < want {
                // Cannot happen: the bytes were spliced in and nothing else reads the pipe.
                // Keep the length every holder has counted with.
                log::error!(
                    "pipe held {} of {want} spliced bytes; the rest is zeros",
                    buf.len()
                );
                buf.resize(want, 0);
            }
            self.len.set(0);
            buf.freeze()
        })
    }

    /// Splices the bytes still in the pipe to descriptor `fd` (a socket); `more`: further bytes follow at
    /// once (a chunk's end), so the kernel may hold a partial segment back. Returns how many
    /// bytes left the pipe; `WouldBlock` when the socket is full.
    pub fn splice_to(&mut self, fd: RawFd, more: bool) -> io::Result<usize> {
        let Some(pipe) = &self.pipe else {
            return Ok(0);
        };
        let flags = libc::SPLICE_F_MOVE
            | libc::SPLICE_F_NONBLOCK
            | if more { libc::SPLICE_F_MORE } else { 0 };
        // SAFETY: plain splice between descriptors we hold.
        let n = unsafe {
            libc::splice(
                pipe.read.as_raw_fd(),
                std::ptr::null_mut(),
                fd,
                std::ptr::null_mut(),
                self.len.get(),
                flags,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.len.set(self.len.get() - n as usize);
        Ok(n as usize)
    }
}

impl Drop for PipedBytes {
    fn drop(&mut self) {
        if let Some(pipe) = self.pipe.take() {
            // A pipe with bytes left in it is closed rather than drained.
            give_back(pipe, self.len.get() == 0);
        }
    }
}

impl std::fmt::Debug for PipedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PipedBytes({} bytes{})",
            self.len(),
            if self.in_pipe() { " in a pipe" } else { "" }
        )
    }
}

/// Pipes this thread holds (in use or idle).
#[cfg(test)]
fn pipes_held() -> usize {
    POOL.with_borrow(|p| p.held)
}

/// `bytes` spliced into a pipe through a loopback connection; for tests.
#[cfg(test)]
pub fn piped(bytes: &[u8]) -> PipedBytes {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut tx = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (rx, _) = l.accept().expect("accept");
    tx.write_all(bytes).expect("write");
    // Wait until every byte is queued, so that one splice takes them all.
    let mut peek = vec![0u8; bytes.len()];
    // SAFETY: `peek` has room for the `bytes.len()` bytes asked for.
    let queued = unsafe {
        libc::recv(
            rx.as_raw_fd(),
            peek.as_mut_ptr() as *mut libc::c_void,
            peek.len(),
            libc::MSG_PEEK | libc::MSG_WAITALL,
        )
    };
    assert_eq!(queued, bytes.len() as isize, "bytes queued");
    match splice_from(rx.as_raw_fd(), bytes.len()) {
        Ok(SpliceRead::Got(p)) if p.len() == bytes.len() => p,
        Ok(SpliceRead::Got(p)) => panic!("spliced {} of {} bytes", p.len(), bytes.len()),
        Ok(_) => panic!("nothing spliced"),
        Err(e) => panic!("splice: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn bytes_move_socket_to_socket_through_a_pipe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let out = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut sink, _) = l.accept().unwrap();
        let mut p = piped(b"hello");
        assert_eq!(p.len(), 5);
        assert!(p.in_pipe());
        assert_eq!(p.splice_to(out.as_raw_fd(), false).unwrap(), 5);
        assert!(p.is_empty());
        let mut got = [0u8; 5];
        sink.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn looking_at_the_bytes_copies_them_out_once() {
        let p = piped(b"abcdef");
        let held = pipes_held();
        assert_eq!(p.bytes().as_ref(), b"abcdef");
        assert_eq!(p.bytes().as_ref(), b"abcdef");
        assert!(!p.in_pipe());
        assert_eq!(p.len(), 6);
        drop(p);
        // The drained pipe went back to the pool.
        assert_eq!(pipes_held(), held);
    }

    #[test]
    fn a_pipe_dropped_full_is_closed() {
        let p = piped(b"xyz");
        let held = pipes_held();
        drop(p);
        assert_eq!(pipes_held(), held - 1);
    }
}
