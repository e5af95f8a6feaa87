//! The state of one worker and the scheduler that moves events between pipeline instances and
//! sockets.
//!
//! Delivery inside one pipeline instance is a direct loop (filter k's output feeds filter k+1).
//! Anything that crosses instances goes through the FIFO `queue`, which keeps ordering and avoids
//! re-entering a filter that is running.

use crate::engine::context::{self, ContextRef};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, Signal};
use crate::engine::graph::Graph;
use crate::engine::pipeline::{Instance, LayoutId, PipelineId, Sink};
use crate::js::runtime::JsRuntime;
use crate::net::conn::{Conn, ConnState, LINGER, ReadTarget, Role, unread_bytes};
use crate::net::listener::{Accepting, Listener};
use crate::net::options::{FLUSH_AT, SocketOptions, WRITE_HIGH_WATER, WRITE_LOW_WATER};
use bytes::BytesMut;
use mio::{Interest, Token};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use super::timers::{TimerId, TimerTarget, Timers};

/// Token of listener `i` is `LISTENER_TOKEN_BASE + i`; sockets use their slab index.
pub const LISTENER_TOKEN_BASE: usize = 1 << 40;
/// Token of the master control channel.
pub const CONTROL_TOKEN: usize = (1 << 40) - 1;

/// How often the worker checks socket timeouts (the resolution of `connectTimeout`,
/// `readTimeout`, `writeTimeout` and `idleTimeout`) while it has sockets.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Emptied filter vectors kept for reuse. Beyond this many idle ones (after a burst of
/// concurrent streams) they are freed: a few per in-flight request is all the steady state needs.
const FILTER_VEC_POOL: usize = 1024;

/// Recycled filter sets kept per layout (see `FilterFactory::recycle`): enough for the streams a
/// burst ends at once; the rest are freed.
const RECYCLED_PER_LAYOUT: usize = 256;

/// What destroyed instances of one layout leave for its next ones: filter sets already reset by
/// their factories (`FilterFactory::recycle`), so that a new instance takes one instead of
/// allocating a box per filter.
type RecycledFilters = Vec<Vec<Box<dyn Filter>>>;

/// Something many pipelines feed or read through (a connection-pool session). It receives the
/// output of the pipeline it owns and its own timers.
pub trait SharedSink {
    /// An event output by the owned pipeline. Must not run pipelines synchronously (queue work
    /// with `Core::signal`/`send`).
    fn on_output(&mut self, id: u64, ev: Event, core: &mut Core);
    /// A timer armed with `TimerTarget::Shared(id, tag)` fired.
    fn on_timer(&mut self, _id: u64, _tag: u64, _core: &mut Core) {}

    /// The worker is about to exit (drain): end the owned pipeline so what it holds is
    /// delivered, then unregister once it has ended.
    fn on_drain(&mut self, _id: u64, _core: &mut Core) {}

    /// What this sink passed on has filled the write queue of socket `congested` to `queued`
    /// bytes, over `WRITE_HIGH_WATER`, while the socket read by the owned pipeline was being
    /// processed. Called again at each further write while the queue stays over the mark. The
    /// default, [`Backpressure::Pause`], stops reading that socket until the queue drains; a
    /// sink whose socket also carries other streams may keep it going, and answers for the
    /// memory.
    fn on_backpressure(
        &mut self,
        _id: u64,
        _congested: usize,
        _queued: usize,
        _core: &mut Core,
    ) -> Backpressure {
        Backpressure::Pause
    }
}

/// What to do with a socket whose input has filled another socket's write queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Stop reading it until the congested queue is back under `WRITE_LOW_WATER`.
    Pause,
    /// Go on reading it: stopping would hold up streams that have nothing to do with the
    /// congested one.
    KeepReading,
}

/// A unit of deferred work.
enum Job {
    Input(PipelineId, Event),
    Signal(PipelineId, usize, Signal),
    Destroy(PipelineId),
    Drain(PipelineId),
}

/// Task run state (a periodic task is skipped while its previous run is still going).
pub struct TaskState {
    pub running: bool,
}

pub struct Core {
    pub graph: Rc<Graph>,
    pub js: JsRuntime,
    pub timers: Timers,
    pub poll: mio::Poll,
    /// Boxed so the slab's spare capacity costs a pointer per slot, not a whole connection.
    pub conns: Vec<Option<Box<Conn>>>,
    free_conns: Vec<usize>,
    pub listeners: Vec<Listener>,
    pub tasks: Vec<TaskState>,
    instances: Vec<Instance>,
    free_instances: Vec<u32>,
    queue: VecDeque<(Job, Option<usize>)>,
    /// Sockets with queued output to flush before the next poll.
    dirty: Vec<usize>,
    /// Bytes queued on sockets since the last `flush_dirty` (compared with `FLUSH_AT`).
    unflushed: usize,
    /// Sockets to read again without waiting for readiness (budget exhausted or resumed).
    pub to_read: Vec<usize>,
    pub read_buf: BytesMut,
    /// The socket whose input is being processed, so back-pressure knows what to pause.
    origin: Option<usize>,
    /// Bytes the consumer of the socket just read says are certain to follow
    /// (`expect_input`); the read loop turns it into the socket's receive low-water mark.
    expected_input: Option<ExpectedInput>,
    next_conn_id: u64,
    pub phase: Phase,
    /// The loop's clock, read once per poll round (socket activity stamps need no more).
    pub now: Instant,
    /// The timeout sweep is pending; it is armed only while there are sockets.
    pub sweep_armed: bool,
    slot_layout: Rc<context::SlotLayout>,
    /// Reused across runs to avoid an allocation per delivery.
    batch_pool: Vec<Vec<Batch>>,
    pending_pool: Vec<Vec<Event>>,
    /// Emptied filter vectors of destroyed instances: spawning takes one instead of allocating
    /// (the plugin gateway spawns about four instances per request).
    filter_vecs: Vec<Vec<Box<dyn Filter>>>,
    /// Per layout, see `RecycledFilters`.
    recycled: Vec<RecycledFilters>,
    /// By id; ids are ours (a counter), so the fast hash is safe here. Looked up for every
    /// event a muxHTTP session's connection outputs.
    shared: rustc_hash::FxHashMap<u64, Rc<std::cell::RefCell<dyn SharedSink>>>,
    next_shared: u64,
}

/// Where in a pipeline the consumer of a socket's bytes sits (`Core::expect_input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputAt {
    /// The filter at this index receives them.
    Filter(usize),
    /// What the pipeline outputs (a muxHTTP session reading its `connect` pipeline).
    Output,
}

/// See `Core::expect_input`.
struct ExpectedInput {
    socket: usize,
    bytes: u64,
}

/// What the worker's event loop is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Serving,
    /// Not accepting; in-flight connections finish, and answers say `connection: close`.
    Draining,
}

impl Core {
    pub fn is_draining(&self) -> bool {
        self.phase == Phase::Draining
    }

    pub fn new(graph: Rc<Graph>, js: JsRuntime, poll: mio::Poll) -> Core {
        let layouts = graph.layouts.len();
        let slot_layout = Rc::new(context::SlotLayout::new(&graph.initial_values()));
        let tasks = graph
            .tasks
            .iter()
            .map(|_| TaskState { running: false })
            .collect();
        Core {
            graph,
            js,
            timers: Timers::default(),
            poll,
            conns: Vec::new(),
            free_conns: Vec::new(),
            listeners: Vec::new(),
            tasks,
            instances: Vec::new(),
            free_instances: Vec::new(),
            queue: VecDeque::new(),
            dirty: Vec::new(),
            unflushed: 0,
            to_read: Vec::new(),
            read_buf: BytesMut::with_capacity(crate::net::options::READ_CHUNK),
            origin: None,
            expected_input: None,
            next_conn_id: 0,
            phase: Phase::Serving,
            now: Instant::now(),
            sweep_armed: false,
            slot_layout,
            batch_pool: Vec::new(),
            pending_pool: Vec::new(),
            filter_vecs: Vec::new(),
            recycled: std::iter::repeat_with(RecycledFilters::new)
                .take(layouts)
                .collect(),
            shared: rustc_hash::FxHashMap::default(),
            next_shared: 0,
        }
    }

    // ---------------------------------------------------------------- pipelines

    /// A fresh root context (new connection, task run).
    pub fn new_root_context(&self, inbound: Option<Rc<context::InboundInfo>>) -> ContextRef {
        context::Context::new_root(&self.slot_layout, inbound)
    }

    pub fn spawn_pipeline(
        &mut self,
        layout: LayoutId,
        context: ContextRef,
        sink: Sink,
    ) -> PipelineId {
        let filters = match self.recycled.get_mut(layout).and_then(|r| r.pop()) {
            Some(filters) => filters,
            None => {
                let graph = &self.graph;
                let plan = graph.layouts.get(layout).map_or(&[][..], |l| &l.plan[..]);
                // A new vector is sized to the layout: a listen pipeline with one filter lives
                // as long as its connection, and a default one would hold room for four.
                let mut filters = self
                    .filter_vecs
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(plan.len()));
                filters.extend(
                    plan.iter()
                        .filter_map(|step| graph.factory(step))
                        .map(|f| f.create()),
                );
                filters
            }
        };
        let (index, generation) = match self.free_instances.pop() {
            Some(i) => {
                let slot = &mut self.instances[i as usize];
                let generation = slot.generation.wrapping_add(1);
                *slot = Instance {
                    layout,
                    generation,
                    filters: Some(filters),
                    ended: 0,
                    context,
                    sink,
                    destroyed: false,
                };
                (i, generation)
            }
            None => {
                self.instances.push(Instance {
                    layout,
                    generation: 0,
                    filters: Some(filters),
                    ended: 0,
                    context,
                    sink,
                    destroyed: false,
                });
                ((self.instances.len() - 1) as u32, 0)
            }
        };
        PipelineId { index, generation }
    }

    fn instance(&mut self, p: PipelineId) -> Option<&mut Instance> {
        self.instances
            .get_mut(p.index as usize)
            .filter(|i| i.generation == p.generation && !i.destroyed)
    }

    /// Queues `ev` as input of `to`.
    pub fn send(&mut self, to: PipelineId, ev: Event) {
        self.queue.push_back((Job::Input(to, ev), self.origin));
    }

    pub fn signal(&mut self, to: PipelineId, filter: usize, sig: Signal) {
        self.queue
            .push_back((Job::Signal(to, filter, sig), self.origin));
    }

    /// Queues a signal caused by input from socket `origin` (so back-pressure can pause it).
    pub fn signal_from(&mut self, origin: usize, to: PipelineId, filter: usize, sig: Signal) {
        self.queue
            .push_back((Job::Signal(to, filter, sig), Some(origin)));
    }

    pub fn destroy_pipeline(&mut self, p: PipelineId) {
        self.queue.push_back((Job::Destroy(p), None));
    }

    /// Runs queued work until none is left.
    pub fn run_queue(&mut self) {
        while let Some((job, origin)) = self.queue.pop_front() {
            self.origin = origin;
            match job {
                Job::Input(p, ev) => self.run(p, Entry::Input(ev)),
                Job::Signal(p, f, sig) => self.run(p, Entry::Signal(f, sig)),
                Job::Destroy(p) => self.destroy_now(p),
                Job::Drain(p) => self.run(p, Entry::Drain),
            }
        }
        self.origin = None;
    }

    /// Delivers input to `p` now (caller is the event loop, nothing is running).
    pub fn input_now(&mut self, p: PipelineId, ev: Event, origin: Option<usize>) {
        self.origin = origin;
        self.run(p, Entry::Input(ev));
        self.run_queue();
    }

    fn run(&mut self, p: PipelineId, mut entry: Entry) {
        let Some(inst) = self.instance(p) else {
            return;
        };
        let Some(mut filters) = inst.filters.take() else {
            // Busy: cannot happen with queued delivery, but never re-enter a running filter.
            log::error!("pipeline re-entered; event dropped");
            return;
        };
        let ctx = inst.context.clone();
        let sink = inst.sink;
        let mut ended = inst.ended;
        context::set_current(&ctx);
        let mut batches = self.batch_pool.pop().unwrap_or_default();
        let mut pending: Vec<Event> = self.pending_pool.pop().unwrap_or_default();
        loop {
            match entry {
                Entry::Input(ev) => {
                    let start = pending.len();
                    pending.push(ev);
                    batches.push(Batch::new(0, start, start + 1));
                }
                Entry::Signal(f, sig) => {
                    if let Some(filter) = filters.get_mut(f) {
                        self.call_filter(p, f, &ctx, &mut pending, &mut batches, |cx| {
                            filter.on_signal(sig, cx)
                        });
                    }
                }
                Entry::Drain => {
                    for (f, filter) in filters.iter_mut().enumerate() {
                        self.call_filter(p, f, &ctx, &mut pending, &mut batches, |cx| {
                            filter.on_drain(cx)
                        });
                        if !batches.is_empty() {
                            break;
                        }
                    }
                }
            }
            // Depth first: an event goes through every filter after the one that output it
            // before that filter's next output moves, as a chain of direct calls would.
            while let Some(top) = batches.last_mut() {
                if top.next == top.end {
                    // The SAFETY argument below, checked wherever the tests run: batches above
                    // this one were cut back to where they began, which is where this one ends.
                    debug_assert_eq!(pending.len(), top.end, "a finished batch ends `pending`");
                    // SAFETY: `top.start <= pending.len()`, so what stays is initialised. What
                    // is cut off was all taken (batches above this one held the rest and finished
                    // first): `MessageEnd` placeholders, which own nothing, so forgetting them
                    // leaks nothing and saves `truncate`'s drop loop over them.
                    unsafe { pending.set_len(top.start) };
                    batches.pop();
                    continue;
                }
                let i = top.filter;
                // Taken in place, a one-word placeholder left behind, so an event is copied once
                // per hop: copies through a second vector stalled on store forwarding
                // (bench/ANALYSIS.md, eighteenth session).
                let ev = std::mem::replace(&mut pending[top.next], Event::MessageEnd);
                top.next += 1;
                let Some(filter) = filters.get_mut(i) else {
                    self.deliver(sink, ev);
                    continue;
                };
                let bit = if i < 64 { 1u64 << i } else { 0 };
                if ended & bit != 0 {
                    continue;
                }
                if matches!(ev, Event::StreamEnd(_)) {
                    ended |= bit;
                }
                self.call_filter(p, i, &ctx, &mut pending, &mut batches, |cx| {
                    filter.on_event(ev, cx)
                });
            }
            // The next queued job is for this same pipeline (a request's MessageStart and
            // MessageEnd, a sub-pipeline's output arriving back): run it now, in queue order,
            // without putting the filters back and taking them out again.
            match self.next_job_for(p) {
                Some(next) => entry = next,
                None => break,
            }
            // A delivery above may have run another context's code.
            context::set_current(&ctx);
        }
        self.batch_pool.push(batches);
        self.pending_pool.push(pending);
        if let Some(inst) = self
            .instances
            .get_mut(p.index as usize)
            .filter(|i| i.generation == p.generation)
        {
            inst.filters = Some(filters);
            inst.ended = ended;
            if inst.destroyed {
                self.finish_destroy(p);
            }
        }
    }

    /// Calls filter `f` of `p` through `call`; what it outputs is appended to `pending` and
    /// becomes a batch for the filter after it.
    #[inline]
    fn call_filter(
        &mut self,
        p: PipelineId,
        f: usize,
        ctx: &ContextRef,
        pending: &mut Vec<Event>,
        batches: &mut Vec<Batch>,
        call: impl FnOnce(&mut Cx),
    ) {
        let start = pending.len();
        let mut cx = Cx {
            core: self,
            pipeline: p,
            filter: f,
            context: ctx,
            out: pending,
            skip: 0,
        };
        call(&mut cx);
        let skip = cx.skip;
        if pending.len() > start {
            batches.push(Batch::new(f + 1 + skip, start, pending.len()));
        }
    }

    /// Pops the front job of the queue if it is input or a signal for `p`.
    fn next_job_for(&mut self, p: PipelineId) -> Option<Entry> {
        let ours = matches!(
            self.queue.front(),
            Some((Job::Input(q, _) | Job::Signal(q, _, _), _)) if *q == p
        );
        if !ours {
            return None;
        }
        let (job, origin) = self.queue.pop_front()?;
        self.origin = origin;
        match job {
            Job::Input(_, ev) => Some(Entry::Input(ev)),
            Job::Signal(_, f, sig) => Some(Entry::Signal(f, sig)),
            // Not reached (the front was checked); put back rather than lose it.
            other => {
                self.queue.push_front((other, origin));
                None
            }
        }
    }

    fn destroy_now(&mut self, p: PipelineId) {
        let Some(inst) = self.instance(p) else {
            return;
        };
        inst.destroyed = true;
        if inst.filters.is_some() {
            self.finish_destroy(p);
        }
    }

    fn finish_destroy(&mut self, p: PipelineId) {
        let Some(inst) = self.instances.get_mut(p.index as usize) else {
            return;
        };
        let Some(mut filters) = inst.filters.take() else {
            return;
        };
        let ctx = inst.context.clone();
        let mut out = Vec::new();
        for (f, filter) in filters.iter_mut().enumerate() {
            let mut cx = Cx {
                core: self,
                pipeline: p,
                filter: f,
                context: &ctx,
                out: &mut out,
                skip: 0,
            };
            filter.on_destroy(&mut cx);
            out.clear();
        }
        if let Some(layout) = self.instances.get(p.index as usize).map(|i| i.layout) {
            self.keep_filters(layout, filters);
        }
        if let Some(inst) = self.instances.get_mut(p.index as usize) {
            inst.sink = Sink::Discard;
            inst.context = ctx;
        }
        self.free_instances.push(p.index);
    }

    /// Keeps the filters of a destroyed instance of `layout` for its next instance: each one
    /// its factory resets, and a new one in place of each it does not (so that one filter
    /// without `recycle`, such as an inlined plugin's, does not cost the whole set).
    fn keep_filters(&mut self, layout: LayoutId, mut filters: Vec<Box<dyn Filter>>) {
        let graph = &self.graph;
        let plan = graph.layouts.get(layout).map_or(&[][..], |l| &l.plan[..]);
        if let Some(recycled) = self.recycled.get_mut(layout)
            && recycled.len() < RECYCLED_PER_LAYOUT
            && plan.len() == filters.len()
        {
            let mut kept = true;
            for (step, filter) in plan.iter().zip(filters.iter_mut()) {
                match graph.factory(step) {
                    Some(f) if f.recycle(filter.as_mut()) => {}
                    Some(f) => *filter = f.create(),
                    None => kept = false,
                }
            }
            if kept {
                recycled.push(filters);
                return;
            }
        }
        filters.clear();
        if self.filter_vecs.len() < FILTER_VEC_POOL {
            self.filter_vecs.push(filters);
        }
    }

    fn deliver(&mut self, sink: Sink, ev: Event) {
        match sink {
            Sink::Discard => {}
            Sink::Filter {
                pipeline,
                filter,
                tag,
            } => self.signal(pipeline, filter, Signal::Sub { tag, event: ev }),
            Sink::Socket(s) => self.socket_output(s, ev),
            Sink::Shared(id) => {
                if let Some(s) = self.shared.get(&id).cloned() {
                    s.borrow_mut().on_output(id, ev, self);
                }
            }
            Sink::Task(t) => {
                if matches!(ev, Event::StreamEnd(_))
                    && let Some(task) = self.tasks.get_mut(t)
                {
                    task.running = false;
                }
            }
        }
    }

    /// Registers a shared receiver; pipelines spawned with `Sink::Shared(id)` report to it.
    pub fn register_shared(&mut self, s: Rc<std::cell::RefCell<dyn SharedSink>>) -> u64 {
        self.next_shared += 1;
        self.shared.insert(self.next_shared, s);
        self.next_shared
    }

    pub fn unregister_shared(&mut self, id: u64) {
        self.shared.remove(&id);
    }

    /// Shared receivers still registered (sessions that have not ended).
    pub fn shared_count(&self) -> usize {
        self.shared.len()
    }

    /// Asks every shared receiver to end its pipeline (worker drain).
    pub fn drain_shared(&mut self) {
        let all: Vec<(u64, Rc<std::cell::RefCell<dyn SharedSink>>)> =
            self.shared.iter().map(|(k, v)| (*k, v.clone())).collect();
        for (id, s) in all {
            s.borrow_mut().on_drain(id, self);
        }
        self.run_queue();
    }

    /// Runs a shared receiver's timer.
    pub fn shared_timer(&mut self, id: u64, tag: u64) {
        if let Some(s) = self.shared.get(&id).cloned() {
            s.borrow_mut().on_timer(id, tag, self);
        }
    }

    /// Asks every inbound connection's root pipeline to drain.
    pub fn drain_inbound(&mut self) {
        for c in self.conns.iter().flatten() {
            if let (Role::Inbound { .. }, ReadTarget::Pipeline(p)) = (c.role, c.reader) {
                self.queue.push_back((Job::Drain(p), None));
            }
        }
        self.run_queue();
    }

    // ---------------------------------------------------------------- sockets

    pub fn conn(&mut self, s: usize) -> Option<&mut Conn> {
        self.conns.get_mut(s).and_then(|c| c.as_deref_mut())
    }

    pub fn next_conn_id(&mut self) -> u64 {
        self.next_conn_id += 1;
        self.next_conn_id
    }

    pub fn add_conn(&mut self, mut conn: Conn, interest: Interest) -> std::io::Result<usize> {
        let slot = match self.free_conns.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, Token(slot), interest)
        {
            self.free_conns.push(slot);
            return Err(e);
        }
        self.conns[slot] = Some(Box::new(conn));
        if !self.sweep_armed {
            self.sweep_armed = true;
            self.timers.arm(SWEEP_INTERVAL, TimerTarget::Sweep);
        }
        Ok(slot)
    }

    /// Opens an outbound connection whose reads come back to `reader`.
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        opts: Rc<SocketOptions>,
        reader: ReadTarget,
    ) -> std::io::Result<usize> {
        let stream = mio::net::TcpStream::connect(addr)?;
        let _ = stream.set_nodelay(true);
        let id = self.next_conn_id();
        let conn = Conn::new(
            stream,
            Role::Outbound,
            reader,
            ConnState::Connecting,
            opts,
            id,
            addr,
        );
        self.add_conn(conn, Interest::READABLE | Interest::WRITABLE)
    }

    /// Output of a pipeline (or a `connect` filter) written to socket `s`.
    pub fn socket_output(&mut self, s: usize, ev: Event) {
        let origin = self.origin;
        if let Event::Data(d) = &ev {
            self.unflushed += d.len();
        }
        let Some(c) = self.conn(s) else {
            return;
        };
        match ev {
            Event::Data(d) => {
                if matches!(c.state, ConnState::Open | ConnState::Connecting) {
                    c.wbuf.push_data(d);
                    let limit = c.opts.buffer_limit;
                    let queued = c.wbuf.len();
                    if limit > 0 && queued > limit {
                        log::warn!("socket #{} output over bufferLimit ({limit} bytes)", c.id);
                        c.wbuf.clear();
                        c.state = ConnState::CloseAfterFlush;
                        self.fail_conn(s, StreamError::BufferOverflow);
                        return;
                    }
                    if queued > WRITE_HIGH_WATER
                        && let Some(src) = origin
                        && self.source_backpressure(src, s, queued) == Backpressure::Pause
                    {
                        self.block_source(src, s);
                    }
                }
            }
            Event::MessageStart(_) | Event::MessageEnd => return,
            Event::StreamEnd(_) => {
                c.state = match (c.role, c.state) {
                    (_, ConnState::CloseAfterFlush) => ConnState::CloseAfterFlush,
                    (Role::Inbound { .. }, _) => ConnState::CloseAfterFlush,
                    (Role::Outbound, ConnState::WriteShut) => ConnState::WriteShut,
                    (Role::Outbound, _) => ConnState::ShutdownAfterFlush,
                    (Role::Lingering, state) => state,
                };
            }
        }
        self.dirty.push(s);
    }

    /// Called by a server filter that chose to close while it holds client bytes it will not
    /// answer (a pipelined request after one that asked to close): the socket being read
    /// lingers when it closes instead of resetting the client.
    pub fn note_unanswered_input(&mut self) {
        if let Some(s) = self.origin
            && let Some(c) = self.conn(s)
        {
            c.unanswered_input = true;
        }
    }

    /// The socket whose input is being processed right now (for filters that apply
    /// back-pressure, e.g. throttles: pause it, resume it later).
    pub fn current_origin(&self) -> Option<usize> {
        self.origin
    }

    /// Called by the consumer of a connection's bytes while it processes input from that
    /// socket: at least `bytes` more bytes will arrive for it (the rest of a `content-length`
    /// body or of a chunk). The consumer sits `at` a place in pipeline `from`: a muxHTTP
    /// session at the output of its `connect` pipeline, a demuxHTTP or serveHTTP filter in an
    /// inbound connection's pipeline. Taken into account only when the bytes it promises are
    /// the bytes on the wire, that is when it sits right where the socket's bytes enter the
    /// pipeline (first filter of the connection's pipeline, or just after the filter that reads
    /// the socket); see `net::recv_lowat`.
    pub fn expect_input(&mut self, from: PipelineId, at: InputAt, bytes: u64) {
        let Some(s) = self.origin else {
            return;
        };
        let Some(reader) = self.conn(s).map(|c| c.reader) else {
            return;
        };
        let entry = match reader {
            ReadTarget::Pipeline(p) if p == from => 0,
            ReadTarget::Filter {
                pipeline, filter, ..
            } if pipeline == from => filter + 1,
            _ => return,
        };
        let at = match at {
            InputAt::Filter(i) => i,
            InputAt::Output => {
                let layout = self.instance(from).map(|i| i.layout);
                match layout.and_then(|l| self.graph.layouts.get(l)) {
                    Some(l) => l.plan.len(),
                    None => return,
                }
            }
        };
        if at == entry {
            self.expected_input = Some(ExpectedInput { socket: s, bytes });
        }
    }

    /// What the consumer of socket `s` said about its coming input since the last call.
    pub fn take_expected_input(&mut self, s: usize) -> Option<u64> {
        self.expected_input
            .take()
            .filter(|e| e.socket == s)
            .map(|e| e.bytes)
    }

    /// Whether the socket whose input is being processed has been paused by back-pressure.
    pub fn origin_paused(&self) -> bool {
        self.origin
            .and_then(|s| self.conns.get(s).and_then(|c| c.as_ref()))
            .is_some_and(|c| c.paused)
    }

    /// Tells the root pipeline of a resumed inbound socket that it may go on: filters holding
    /// input back for back-pressure (HTTP servers with pipelined requests) continue on it.
    fn nudge(&mut self, s: usize) {
        if let Some(c) = self.conns.get(s).and_then(|c| c.as_ref())
            && let (Role::Inbound { .. }, ReadTarget::Pipeline(p)) = (c.role, c.reader)
        {
            self.queue
                .push_back((Job::Input(p, Event::flush()), Some(s)));
        }
    }

    /// Stops reading socket `s` until `resume_socket`; returns the connection's id, which
    /// `resume_socket` checks so a recycled slot is never resumed by mistake.
    pub fn pause_socket(&mut self, s: usize) -> Option<u64> {
        let c = self.conn(s)?;
        c.paused = true;
        Some(c.id)
    }

    /// Resumes reading a socket paused with `pause_socket`, if it is still connection `id`.
    pub fn resume_socket(&mut self, s: usize, id: u64) {
        if let Some(c) = self.conn(s)
            && c.id == id
            && c.paused
        {
            c.paused = false;
            self.to_read.push(s);
            self.nudge(s);
        }
    }

    /// Whether socket `src`, whose input has filled socket `congested`'s write queue to
    /// `queued` bytes, should be paused: the shared receiver its pipeline feeds, if any, decides.
    fn source_backpressure(&mut self, src: usize, congested: usize, queued: usize) -> Backpressure {
        let Some(c) = self.conn(src).filter(|c| !c.paused) else {
            return Backpressure::Pause;
        };
        let ReadTarget::Filter { pipeline, .. } = c.reader else {
            return Backpressure::Pause;
        };
        let Some(Sink::Shared(id)) = self.instance(pipeline).map(|i| i.sink) else {
            return Backpressure::Pause;
        };
        let Some(sink) = self.shared.get(&id).cloned() else {
            return Backpressure::Pause;
        };
        // Busy: the sink is the one writing (it queues its work, so this does not happen today).
        let Ok(mut sink) = sink.try_borrow_mut() else {
            return Backpressure::Pause;
        };
        sink.on_backpressure(id, congested, queued, self)
    }

    /// Pauses reading on `src` until `congested` drains.
    fn block_source(&mut self, src: usize, congested: usize) {
        if self.conn(src).is_none_or(|c| c.paused) {
            return;
        }
        if let Some(id) = self.pause_socket(src)
            && let Some(c) = self.conn(congested)
        {
            c.blocked_sources.push((src, id));
        }
    }

    /// Resumes the sockets a congested one had paused.
    fn resume_all(&mut self, blocked: Vec<(usize, u64)>) {
        for (src, id) in blocked {
            self.resume_socket(src, id);
        }
    }

    /// Resumes sockets paused on `s` once its queue is low.
    fn unblock_sources(&mut self, s: usize) {
        let blocked = match self.conn(s) {
            Some(c) if c.wbuf.len() <= WRITE_LOW_WATER && !c.blocked_sources.is_empty() => {
                std::mem::take(&mut c.blocked_sources)
            }
            _ => return,
        };
        self.resume_all(blocked);
    }

    /// Writes out every socket that got output since the last call.
    pub fn flush_dirty(&mut self) {
        self.unflushed = 0;
        while let Some(s) = self.dirty.pop() {
            self.flush_socket(s);
        }
    }

    /// Writes out queued output early once a turn has queued `FLUSH_AT` bytes (see there).
    pub fn flush_if_piled_up(&mut self) {
        if self.unflushed >= FLUSH_AT {
            self.flush_dirty();
        }
    }

    pub fn flush_socket(&mut self, s: usize) {
        let Some(c) = self.conns.get_mut(s).and_then(|c| c.as_mut()) else {
            return;
        };
        if c.state == ConnState::Connecting {
            return;
        }
        match c.flush(self.now) {
            Ok(true) => {
                if c.want_write {
                    c.want_write = false;
                    let interest = Interest::READABLE;
                    let _ = self
                        .poll
                        .registry()
                        .reregister(&mut c.stream, Token(s), interest);
                }
                match c.state {
                    ConnState::CloseAfterFlush => self.close_or_linger(s),
                    ConnState::ShutdownAfterFlush => {
                        let _ = c.stream.shutdown(std::net::Shutdown::Write);
                        c.state = ConnState::WriteShut;
                        if c.read_eof {
                            self.close_conn(s, StreamError::None);
                        }
                    }
                    _ => {}
                }
                self.unblock_sources(s);
            }
            Ok(false) => {
                if !c.want_write {
                    c.want_write = true;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    let _ = self
                        .poll
                        .registry()
                        .reregister(&mut c.stream, Token(s), interest);
                }
                self.unblock_sources(s);
            }
            Err(e) => {
                let err = match e.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                        StreamError::ConnectionReset
                    }
                    _ => StreamError::WriteError,
                };
                log::debug!("socket #{} write failed: {e}", c.id);
                self.fail_conn(s, err);
            }
        }
    }

    /// Tells the socket's reader the stream ended with `err`, then closes the socket.
    pub fn fail_conn(&mut self, s: usize, err: StreamError) {
        let Some(c) = self.conn(s) else {
            return;
        };
        c.wbuf.clear();
        c.state = ConnState::CloseAfterFlush;
        self.close_conn(s, err);
    }

    /// Closes socket `s` and notifies its reader with `StreamEnd(err)`; an inbound connection's
    /// root pipeline is destroyed.
    pub fn close_conn(&mut self, s: usize, err: StreamError) {
        let Some(mut c) = self.conns.get_mut(s).and_then(|c| c.take()) else {
            return;
        };
        // No EPOLL_CTL_DEL: closing the socket (when `c` drops) takes it out of the epoll set,
        // as nginx relies on too. The descriptor is never shared (accepted and connected with
        // CLOEXEC, after the worker forked), so nothing keeps it registered; an event already
        // collected for its slot reaches whatever uses the slot next as a spurious readiness,
        // which the read and write paths take as "nothing to do".
        self.free_conns.push(s);
        self.end_owner(&mut c, err);
    }

    /// Closes socket `s`, whose output is all written; an inbound connection whose client may
    /// still be sending (bytes unread, or bytes its pipeline did not answer) instead ends its
    /// pipeline and lingers ([`Role::Lingering`]). A client that sent its request and waits,
    /// as every connection-per-request client does, is closed at once: lingering on every close
    /// cost a wake-up and a read more, 29 against 23 µs of worker CPU per connection in six
    /// alternating rounds of bench `churn`'s load (the `FIONREAD` check costs nothing we
    /// could measure).
    fn close_or_linger(&mut self, s: usize) {
        let lingers = self.conn(s).is_some_and(|c| {
            matches!(c.role, Role::Inbound { .. })
                && !c.read_eof
                && (c.unanswered_input || unread_bytes(c.stream.as_raw_fd()) > 0)
        });
        if !lingers {
            return self.close_conn(s, StreamError::None);
        }
        let Some(mut c) = self.conns.get_mut(s).and_then(|c| c.take()) else {
            return;
        };
        self.end_owner(&mut c, StreamError::None);
        log::debug!("inbound #{} from {} lingers", c.id, c.peer);
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        c.role = Role::Lingering;
        c.state = ConnState::WriteShut;
        c.paused = false;
        if let Some(slot) = self.conns.get_mut(s) {
            *slot = Some(c);
        }
        self.to_read.push(s);
    }

    /// What closing socket `c` means for whoever it served: paused sources resume, an inbound
    /// connection's pipeline ends and its listener has room again, a filter's socket signals
    /// the filter.
    fn end_owner(&mut self, c: &mut Conn, err: StreamError) {
        self.resume_all(std::mem::take(&mut c.blocked_sources));
        match (c.role, c.reader) {
            (Role::Inbound { listener }, ReadTarget::Pipeline(p)) => {
                log::debug!(
                    "inbound #{} from {} closed, js-calls={}",
                    c.id,
                    c.peer,
                    context::js_calls()
                );
                if !c.read_eof {
                    self.send(p, Event::StreamEnd(err));
                }
                self.destroy_pipeline(p);
                if let Some(l) = self.listeners.get_mut(listener) {
                    l.active = l.active.saturating_sub(1);
                    if l.accepting == Accepting::Full {
                        l.accepting = Accepting::Open;
                        let _ = self.poll.registry().register(
                            &mut l.socket,
                            Token(LISTENER_TOKEN_BASE + listener),
                            Interest::READABLE,
                        );
                    }
                }
            }
            (
                Role::Inbound { .. } | Role::Outbound,
                ReadTarget::Filter {
                    pipeline,
                    filter,
                    tag,
                },
            ) if !c.read_eof || err != StreamError::None => {
                self.signal(
                    pipeline,
                    filter,
                    Signal::Socket {
                        tag,
                        event: Event::StreamEnd(err),
                    },
                );
            }
            _ => {}
        }
    }

    /// Closes a socket owned by a filter without notifying it (the filter is going away).
    pub fn drop_conn(&mut self, s: usize) {
        let Some(mut c) = self.conns.get_mut(s).and_then(|c| c.take()) else {
            return;
        };
        // Closed without EPOLL_CTL_DEL, as in `close_conn`.
        self.free_conns.push(s);
        self.resume_all(std::mem::take(&mut c.blocked_sources));
    }

    /// Fails every socket whose idle, connect, read or write timeout has expired. Run by a
    /// periodic sweep rather than a timer per socket: an idle connection then costs no timer
    /// memory, and a sweep over thousands of sockets takes microseconds.
    pub fn sweep_timeouts(&mut self, now: Instant) {
        let expired: Vec<(usize, StreamError)> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(s, c)| {
                let c = c.as_ref()?;
                expired_timeout(c, now).map(|e| (s, e))
            })
            .collect();
        for (s, err) in expired {
            if let Some(c) = self.conn(s) {
                log::debug!("socket #{} to {}: {}", c.id, c.peer, err.name());
            }
            self.fail_conn(s, err);
        }
    }

    pub fn inbound_count(&self) -> usize {
        self.conns
            .iter()
            .flatten()
            .filter(|c| matches!(c.role, Role::Inbound { .. }))
            .count()
    }
}

enum Entry {
    Input(Event),
    Signal(usize, Signal),
    Drain,
}

/// Events one filter output, waiting in `pending[start..end]` to go to filter `filter` (or to
/// the pipeline's sink past the last filter). `pending[start..next]` have been taken.
struct Batch {
    filter: usize,
    start: usize,
    next: usize,
    end: usize,
}

impl Batch {
    fn new(filter: usize, start: usize, end: usize) -> Batch {
        Batch {
            filter,
            start,
            next: start,
            end,
        }
    }
}

/// Which timeout, if any, has expired at `now`.
pub fn expired_timeout(c: &Conn, now: Instant) -> Option<StreamError> {
    if c.role == Role::Lingering {
        return (now >= c.last_write + LINGER).then_some(StreamError::IdleTimeout);
    }
    let o = &c.opts;
    if c.state == ConnState::Connecting
        && let Some(t) = o.connect_timeout
        && now >= c.created + t
    {
        return Some(StreamError::ConnectionTimeout);
    }
    if let Some(t) = o.write_timeout
        && !c.wbuf.is_empty()
        && now >= c.last_write + t
    {
        return Some(StreamError::WriteTimeout);
    }
    // A read timeout applies while we wait for an answer to what we sent last.
    if let Some(t) = o.read_timeout
        && c.last_write >= c.last_read
        && now >= c.last_write.max(c.last_read) + t
        && c.state != ConnState::Connecting
    {
        return Some(StreamError::ReadTimeout);
    }
    if let Some(t) = o.idle_timeout
        && now >= c.last_read.max(c.last_write) + t
    {
        return Some(StreamError::IdleTimeout);
    }
    None
}
