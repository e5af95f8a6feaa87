//! Mock upstream services for the proxy tests: small HTTP/1.1 servers on loopback, one thread per
//! connection, that count the connections and requests they see and record each request.
//!
//! They stand in for the three services of Pipy's tutorial 02 (`Hi, there!`, echo, "You are
//! requesting …") and for the special backends the proxy tests need (one that never answers,
//! one that serves a big body, one that digests a big upload, a log collector).
#![allow(dead_code)]

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How much of each request body is kept in the record (the digest covers all of it).
const RECORDED_BODY_LIMIT: usize = 1 << 20;

/// How long [`Service::SlowDigest`] leaves a request body unread.
pub const SLOW_START: Duration = Duration::from_millis(1500);

/// Size of one read from a backend socket.
const READ_CHUNK: usize = 64 * 1024;

/// What a mock service answers.
#[derive(Clone)]
pub enum Service {
    /// `Hi, there!\n` (tutorial 02, port 8080).
    Hi,
    /// The request body (tutorial 02, port 8081).
    Echo,
    /// `You are requesting <path> from <peer ip>\n` (tutorial 02, port 8082).
    TellIp,
    /// Reads requests and never answers (for read timeouts).
    Silent,
    /// A 200 with this body.
    Blob(Arc<Vec<u8>>),
    /// A 200 whose body is `<body length> <body digest as 16 hex digits>` (see [`digest`]).
    Digest,
    /// Like [`Service::Digest`], but waits [`SLOW_START`] after the request head before it reads
    /// the body (an upstream that does not keep up with the client).
    SlowDigest,
    /// An empty 200 (a log collector: what matters is the record).
    Empty,
    /// `Hi, there!\n` with `connection: close`, then the connection is closed.
    HiThenClose,
    /// `Hi, there!\n` without a length: the body ends when the connection closes.
    HiUntilClose,
    /// Reads a request and resets the connection (RST) instead of answering.
    Reset,
    /// A 200 with this body, `delay` after the request arrived (it counts as received, in
    /// [`Backend::requests`], before the wait): a request stays in flight that long.
    Late(Duration, &'static str),
    /// `/big`: a 200 with this body, sent only once the next request has arrived on the same
    /// connection (so that request is certainly pipelined behind it); other paths: `small\n`.
    BigWhenNext(Arc<Vec<u8>>),
}

/// One request as the backend received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which accepted connection (1-based, in accept order) carried it.
    pub connection: usize,
    /// Request method.
    pub method: String,
    /// Request target as sent.
    pub path: String,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (up to [`RECORDED_BODY_LIMIT`] bytes).
    pub body: Vec<u8>,
    /// Full body length.
    pub body_len: usize,
    /// When the whole request had arrived.
    pub at: Instant,
}

impl Recorded {
    /// First value of a header (name lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    closed: AtomicUsize,
    requests: AtomicUsize,
    /// Request heads read, counted before the body is (requests still arriving included).
    heads: AtomicUsize,
    records: Mutex<Vec<Recorded>>,
    /// A handle on each open connection, so drop can cut them; removed when one ends.
    open: Mutex<HashMap<usize, TcpStream>>,
}

/// A running mock service; stopped (listener and every connection closed) on drop.
pub struct Backend {
    port: u16,
    addr: SocketAddr,
    stats: Arc<Stats>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Backend {
    /// Starts `service` on 127.0.0.1 and an ephemeral port.
    pub fn start(service: Service) -> Backend {
        Backend::start_on("127.0.0.1:0", service)
    }

    /// Starts `service` on the given address (e.g. `[::1]:0`).
    pub fn start_on(bind: &str, service: Service) -> Backend {
        let listener = TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        let addr = listener.local_addr().expect("backend address");
        let stats = Arc::new(Stats::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stats = stats.clone();
            let stopping = stopping.clone();
            thread::spawn(move || accept_loop(listener, service, stats, stopping))
        };
        Backend {
            port: addr.port(),
            addr,
            stats,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// Connections that have ended (closed by either side) so far.
    pub fn closed(&self) -> usize {
        self.stats.closed.load(Ordering::SeqCst)
    }

    /// Complete requests received so far.
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// Request heads received so far, whether or not their bodies have all arrived.
    pub fn heads(&self) -> usize {
        self.stats.heads.load(Ordering::SeqCst)
    }

    /// A copy of every request received so far.
    pub fn records(&self) -> Vec<Recorded> {
        self.stats
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Polls until at least `n` requests arrived, for at most `timeout`; returns whether they did.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.requests() < n {
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own, then cut every open connection.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for stream in self
            .stats
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, stream)| stream)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    service: Service,
    stats: Arc<Stats>,
    stopping: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        // Answers are written as head + body; without this, Nagle's algorithm and the peer's
        // delayed ACK hold every second write back by ~40 ms.
        let _ = stream.set_nodelay(true);
        let id = stats.connections.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(clone) = stream.try_clone() {
            stats
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, clone);
        }
        let service = service.clone();
        let stats = stats.clone();
        thread::spawn(move || {
            serve_connection(stream, id, service, &stats);
            // Dropping the last handle closes the socket (with RST after a zero linger).
            stats
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            stats.closed.fetch_add(1, Ordering::SeqCst);
        });
    }
}

/// Digest used to compare big bodies without keeping them: std's SipHash with its fixed default
/// keys, deterministic within one test process.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}

/// Streaming reader of one connection's requests.
struct RequestReader {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// A request head as parsed by the mock.
struct ParsedHead {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl RequestReader {
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until `buffer` holds a CRLF; returns the line (without CRLF) and consumes it.
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[..pos]).into_owned();
                self.buffer.drain(..pos + 2);
                return Some(line);
            }
            if self.fill().ok()? == 0 {
                return None;
            }
        }
    }

    fn head(&mut self) -> Option<ParsedHead> {
        let mut request_line = self.line()?;
        while request_line.is_empty() {
            request_line = self.line()?;
        }
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        Some(ParsedHead {
            method,
            path,
            headers,
        })
    }

    /// Feeds exactly `n` body bytes to `sink`.
    fn body_bytes(&mut self, mut n: usize, sink: &mut impl FnMut(&[u8])) -> Option<()> {
        while n > 0 {
            if self.buffer.is_empty() && self.fill().ok()? == 0 {
                return None;
            }
            let take = n.min(self.buffer.len());
            sink(&self.buffer[..take]);
            self.buffer.drain(..take);
            n -= take;
        }
        Some(())
    }

    fn body(&mut self, head: &ParsedHead, sink: &mut impl FnMut(&[u8])) -> Option<()> {
        let header = |name: &str| {
            head.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            loop {
                let size_line = self.line()?;
                let size_hex = size_line.split(';').next().unwrap_or_default().trim();
                let size = usize::from_str_radix(size_hex, 16).ok()?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    return Some(());
                }
                self.body_bytes(size, sink)?;
                if !self.line()?.is_empty() {
                    return None;
                }
            }
        }
        let length = header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        self.body_bytes(length, sink)
    }
}

fn serve_connection(stream: TcpStream, connection: usize, service: Service, stats: &Stats) {
    let peer_ip = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = RequestReader {
        stream,
        buffer: Vec::new(),
    };
    while let Some(head) = reader.head() {
        stats.heads.fetch_add(1, Ordering::SeqCst);
        if let Service::SlowDigest = service {
            thread::sleep(SLOW_START);
        }
        let mut body = Vec::new();
        let mut body_len = 0usize;
        let mut hasher = DefaultHasher::new();
        let complete = reader.body(&head, &mut |bytes: &[u8]| {
            body_len += bytes.len();
            hasher.write(bytes);
            let room = RECORDED_BODY_LIMIT.saturating_sub(body.len());
            body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        });
        if complete.is_none() {
            return;
        }
        let answer: Option<Vec<u8>> = match &service {
            Service::Hi => Some(b"Hi, there!\n".to_vec()),
            Service::Echo => Some(body.clone()),
            Service::TellIp => {
                Some(format!("You are requesting {} from {peer_ip}\n", head.path).into_bytes())
            }
            Service::Silent => None,
            Service::Blob(_) => Some(Vec::new()),
            Service::Digest | Service::SlowDigest => {
                Some(format!("{body_len} {:016x}", hasher.finish()).into_bytes())
            }
            Service::Empty => Some(Vec::new()),
            Service::HiThenClose | Service::HiUntilClose => Some(b"Hi, there!\n".to_vec()),
            Service::Reset => None,
            Service::Late(_, body) => Some(body.as_bytes().to_vec()),
            Service::BigWhenNext(_) => Some(b"small\n".to_vec()),
        };
        let big = matches!(service, Service::BigWhenNext(_)) && head.path == "/big";
        let head_only = head.method == "HEAD";
        let record = Recorded {
            connection,
            method: head.method,
            path: head.path,
            headers: head.headers,
            body,
            body_len,
            at: Instant::now(),
        };
        stats
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
        stats.requests.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = answer else {
            if let Service::Reset = service {
                // A zero linger time makes close() send RST instead of FIN.
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                return;
            }
            continue;
        };
        if let Service::Late(delay, _) = service {
            thread::sleep(delay);
        }
        if big {
            while reader.buffer.is_empty() {
                if !matches!(reader.fill(), Ok(1..)) {
                    return;
                }
            }
        }
        let payload: &[u8] = match &service {
            Service::Blob(blob) => blob,
            Service::BigWhenNext(blob) if big => blob,
            _ => &answer,
        };

        let head = match service {
            Service::HiThenClose => format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            ),
            Service::HiUntilClose => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string(),
            _ => format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                payload.len()
            ),
        };
        // RFC 9110 §9.3.2: the answer to HEAD has the headers of a GET, but no content.
        let payload = if head_only { &[][..] } else { payload };
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(payload).is_err() {
            return;
        }
        if matches!(service, Service::HiThenClose | Service::HiUntilClose) {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}
