//! The control channel between the master and one worker: a stream socketpair carrying one byte
//! per message. Its second job is liveness: either side sees EOF when the other process is gone.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

/// A message on the control channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMessage {
    /// worker → master: listeners are registered, the worker is serving.
    Ready,
    /// master → worker: stop accepting, finish in-flight work, then exit 0.
    Drain,
    /// worker → master: the worker has stopped accepting (answer to `Drain`), so the new
    /// generation alone takes connections from now on.
    Draining,
    /// master → worker: exit now.
    Quit,
}

impl ControlMessage {
    fn to_byte(self) -> u8 {
        match self {
            ControlMessage::Ready => b'R',
            ControlMessage::Drain => b'D',
            ControlMessage::Draining => b'A',
            ControlMessage::Quit => b'Q',
        }
    }

    fn from_byte(byte: u8) -> io::Result<Self> {
        match byte {
            b'R' => Ok(ControlMessage::Ready),
            b'D' => Ok(ControlMessage::Drain),
            b'A' => Ok(ControlMessage::Draining),
            b'Q' => Ok(ControlMessage::Quit),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown control byte 0x{other:02x}"),
            )),
        }
    }
}

/// The worker's end of its control channel (non-blocking).
#[derive(Debug)]
pub struct WorkerControl {
    stream: UnixStream,
}

impl WorkerControl {
    /// The descriptor to register for READABLE in the worker's own poll.
    pub fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Tells the master this worker is serving.
    pub fn send_ready(&mut self) -> io::Result<()> {
        send_message(&mut self.stream, ControlMessage::Ready)
    }

    /// Tells the master this worker no longer accepts connections.
    pub fn send_draining(&mut self) -> io::Result<()> {
        send_message(&mut self.stream, ControlMessage::Draining)
    }

    /// Non-blocking receive: `Ok(None)` when nothing is pending; an error of kind
    /// `UnexpectedEof` when the master is gone (the worker must then exit).
    pub fn try_recv(&mut self) -> io::Result<Option<ControlMessage>> {
        let mut byte = [0u8; 1];
        loop {
            return match self.stream.read(&mut byte) {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "master closed the control channel",
                )),
                Ok(_) => ControlMessage::from_byte(byte[0]).map(Some),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }
}

/// The master's end of one worker's control channel (non-blocking, registered in the master's
/// poll).
#[derive(Debug)]
pub(crate) struct MasterControl {
    stream: mio::net::UnixStream,
}

/// What a read of the master's end produced.
#[derive(Debug, Default)]
pub(crate) struct MasterInbox {
    /// Messages read, in order.
    pub messages: Vec<ControlMessage>,
    /// The worker closed its end (it is exiting).
    pub closed: bool,
}

impl MasterControl {
    /// Sends a message; a worker that is already gone yields an error the caller may ignore.
    pub fn send(&mut self, message: ControlMessage) -> io::Result<()> {
        send_message(&mut self.stream, message)
    }

    /// Reads everything pending (mio is edge-triggered: read until WouldBlock).
    pub fn read_pending(&mut self) -> MasterInbox {
        let mut inbox = MasterInbox::default();
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    inbox.closed = true;
                    return inbox;
                }
                Ok(n) => {
                    for &byte in &buf[..n] {
                        match ControlMessage::from_byte(byte) {
                            Ok(message) => inbox.messages.push(message),
                            Err(e) => log::warn!("control channel: {e}"),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return inbox,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("control channel read: {e}");
                    inbox.closed = true;
                    return inbox;
                }
            }
        }
    }

    /// The descriptor, for closing it in forked children that must not hold it.
    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// The mio source to (de)register in the master's poll.
    pub fn source(&mut self) -> &mut mio::net::UnixStream {
        &mut self.stream
    }
}

/// Creates one channel: the master's end and the worker's end, both non-blocking.
pub(crate) fn channel() -> io::Result<(MasterControl, WorkerControl)> {
    let (master_end, worker_end) = UnixStream::pair()?;
    master_end.set_nonblocking(true)?;
    worker_end.set_nonblocking(true)?;
    Ok((
        MasterControl {
            stream: mio::net::UnixStream::from_std(master_end),
        },
        WorkerControl { stream: worker_end },
    ))
}

fn send_message(stream: &mut impl Write, message: ControlMessage) -> io::Result<()> {
    loop {
        // One byte into an almost empty socket buffer: WouldBlock cannot happen in practice,
        // and a short write of one byte is not possible.
        return match stream.write(&[message.to_byte()]) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_travel_both_ways() {
        let (mut master, mut worker) = channel().expect("socketpair");
        assert!(worker.try_recv().expect("empty").is_none());
        worker.send_ready().expect("send");
        let inbox = master.read_pending();
        assert_eq!(inbox.messages, vec![ControlMessage::Ready]);
        assert!(!inbox.closed);
        master.send(ControlMessage::Drain).expect("send");
        master.send(ControlMessage::Quit).expect("send");
        assert_eq!(
            worker.try_recv().expect("drain"),
            Some(ControlMessage::Drain)
        );
        assert_eq!(worker.try_recv().expect("quit"), Some(ControlMessage::Quit));
        assert_eq!(worker.try_recv().expect("empty"), None);
    }

    #[test]
    fn worker_sees_eof_when_master_end_closes() {
        let (master, mut worker) = channel().expect("socketpair");
        drop(master);
        let err = worker.try_recv().expect_err("eof");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn master_sees_close_when_worker_end_closes() {
        let (mut master, worker) = channel().expect("socketpair");
        drop(worker);
        assert!(master.read_pending().closed);
    }
}
