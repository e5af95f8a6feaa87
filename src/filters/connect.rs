//! `connect(target, options)`: a TCP client. The connection opens on the first event; Data is
//! written upstream, a StreamEnd half-closes it; what the server sends comes out as Data, then a
//! StreamEnd carrying the error (reference §3.2).

use super::{Dynamic, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, Signal};
use crate::net::conn::ReadTarget;
use crate::net::options::SocketOptions;
use std::rc::Rc;
use std::time::Duration;

pub fn build_connect(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    if a.arg(0).is_undefined() {
        return Err("connect() needs a target".into());
    }
    let target = Dynamic::from_arg(a, 0);
    let mut opts = SocketOptions::default();
    let mut retry_count: i64 = 0;
    let mut retry_delay = Duration::ZERO;
    if a.options(1).is_some() {
        opts.connect_timeout = a.seconds_option(1, "connectTimeout")?;
        opts.read_timeout = a.seconds_option(1, "readTimeout")?;
        opts.write_timeout = a.seconds_option(1, "writeTimeout")?;
        if !a.option(1, "idleTimeout")?.is_undefined() {
            opts.idle_timeout = a.seconds_option(1, "idleTimeout")?;
        }
        opts.buffer_limit = a.size_option(1, "bufferLimit")?.unwrap_or(0);
        let rc = a.option(1, "retryCount")?;
        if let Some(n) = rc.as_number() {
            retry_count = n as i64;
        }
        retry_delay = a.seconds_option(1, "retryDelay")?.unwrap_or(Duration::ZERO);
    }
    Ok(Box::new(ConnectFactory {
        target,
        opts: Rc::new(opts),
        retry_count,
        retry_delay,
    }))
}

struct ConnectFactory {
    target: Dynamic,
    opts: Rc<SocketOptions>,
    retry_count: i64,
    retry_delay: Duration,
}

impl FilterFactory for ConnectFactory {
    fn name(&self) -> &'static str {
        "connect"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Connect {
            target: self.target.clone(),
            opts: self.opts.clone(),
            retries_left: self.retry_count,
            retry_delay: self.retry_delay,
            state: State::Idle,
            pending: Data::new(),
            input_ended: false,
            attempt: 0,
            addr: None,
        })
    }
    fn detail(&self) -> String {
        match &self.target {
            Dynamic::Value(v) => v.display().to_string(),
            Dynamic::Func(_) => "(dynamic target)".into(),
        }
    }
}

/// Where the upstream connection is.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Nothing yet: opened on the first event.
    Idle,
    /// Connecting on socket `s`; writes wait in `pending`.
    Connecting(usize),
    /// Waiting `retryDelay` before the next attempt.
    Retrying,
    Open(usize),
    /// The stream ended (output StreamEnd sent).
    Closed,
}

struct Connect {
    target: Dynamic,
    opts: Rc<SocketOptions>,
    retries_left: i64,
    retry_delay: Duration,
    state: State,
    pending: Data,
    input_ended: bool,
    /// Tags socket signals so a stale attempt's are ignored.
    attempt: u64,
    addr: Option<std::net::SocketAddr>,
}

impl Connect {
    fn open(&mut self, cx: &mut Cx) {
        if self.addr.is_none() {
            let target = match self.target.eval(cx) {
                Ok(v) => v,
                Err(()) => return self.fail(StreamError::RuntimeError, cx),
            };
            // A string needs no conversion, and so no engine (which would move the script
            // epoch).
            let text = match target.as_string() {
                Some(s) => s.to_std_string_escaped(),
                None => match target.to_string(cx.core.js.ctx()) {
                    Ok(s) => s.to_std_string_escaped(),
                    Err(_) => return self.fail(StreamError::CannotResolve, cx),
                },
            };
            let Ok((host, port)) = crate::net::addr::split_host_port(&text) else {
                log::error!("connect: invalid target {text:?}");
                return self.fail(StreamError::CannotResolve, cx);
            };
            match crate::net::addr::resolve(&host, port) {
                Some(a) => self.addr = Some(a),
                None => {
                    log::warn!("connect: cannot resolve {host}");
                    return self.fail(StreamError::CannotResolve, cx);
                }
            }
        }
        let Some(addr) = self.addr else {
            return;
        };
        self.attempt += 1;
        let (pipeline, filter) = cx.address();
        let reader = ReadTarget::Filter {
            pipeline,
            filter,
            tag: self.attempt,
        };
        match cx.core.connect(addr, self.opts.clone(), reader) {
            Ok(s) => self.state = State::Connecting(s),
            Err(e) => {
                // A non-blocking connect reports refusals later; failing at once means this
                // side is short of something (descriptors, memory, local ports), which an
                // operator needs to see.
                log::warn!("connect to {addr} failed: {e}");
                self.failed_attempt(StreamError::ConnectionRefused, cx);
            }
        }
    }

    /// A connection attempt failed: retry or give up.
    fn failed_attempt(&mut self, err: StreamError, cx: &mut Cx) {
        if self.retries_left != 0 {
            if self.retries_left > 0 {
                self.retries_left -= 1;
            }
            self.state = State::Retrying;
            cx.set_timer(self.retry_delay, 0);
        } else {
            self.fail(err, cx);
        }
    }

    fn fail(&mut self, err: StreamError, cx: &mut Cx) {
        if let State::Open(s) | State::Connecting(s) = self.state {
            cx.core.drop_conn(s);
        }
        self.state = State::Closed;
        self.pending.clear();
        cx.output(Event::StreamEnd(err));
    }

    fn write(&mut self, d: Data, cx: &mut Cx) {
        match self.state {
            State::Open(s) => cx.core.socket_output(s, Event::Data(d)),
            State::Closed => {}
            _ => self.pending.push_data(d),
        }
    }
}

impl Filter for Connect {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if self.state == State::Idle {
            if matches!(ev, Event::StreamEnd(_)) {
                self.state = State::Closed;
                return;
            }
            self.open(cx);
        }
        match ev {
            Event::Data(d) => {
                if !d.is_empty() {
                    self.write(d, cx);
                }
            }
            Event::StreamEnd(_) => {
                self.input_ended = true;
                if let State::Open(s) = self.state {
                    cx.core
                        .socket_output(s, Event::StreamEnd(StreamError::None));
                }
            }
            Event::MessageStart(_) | Event::MessageEnd => {}
        }
    }

    fn on_signal(&mut self, sig: Signal, cx: &mut Cx) {
        match sig {
            Signal::Connected { tag } if tag == self.attempt => {
                let State::Connecting(s) = self.state else {
                    return;
                };
                self.state = State::Open(s);
                let pending = std::mem::take(&mut self.pending);
                if !pending.is_empty() {
                    cx.core.socket_output(s, Event::Data(pending));
                }
                if self.input_ended {
                    cx.core
                        .socket_output(s, Event::StreamEnd(StreamError::None));
                }
            }
            Signal::Socket { tag, event } if tag == self.attempt => match event {
                Event::StreamEnd(err) => {
                    let connecting = matches!(self.state, State::Connecting(_));
                    if connecting && err != StreamError::None {
                        self.failed_attempt(err, cx);
                    } else if self.state != State::Closed {
                        self.state = State::Closed;
                        cx.output(Event::StreamEnd(err));
                    }
                }
                ev => cx.output(ev),
            },
            Signal::Timer(_) if self.state == State::Retrying => self.open(cx),
            _ => {}
        }
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let State::Open(s) | State::Connecting(s) = self.state {
            cx.core.drop_conn(s);
        }
        self.state = State::Closed;
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "connect",
    "target: 'host:port' | () => 'host:port', options?: {connectTimeout, readTimeout, writeTimeout, idleTimeout, bufferLimit, retryCount, retryDelay}",
    "TCP client: sends Data upstream and outputs what the server sends",
    build_connect
)];
