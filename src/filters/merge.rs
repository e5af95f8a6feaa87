//! `merge(pipeline, key, {maxIdle})`: copies each whole message into a session shared by every
//! stream with an equal key (e.g. one log shipper per worker); the input passes through and the
//! session's output is discarded. An idle session is ended with a StreamEnd and kept until its
//! pipeline finishes, so the last batch it holds is delivered (Pipy 0.30 drops it).

use super::handle::MessageCollector;
use super::session::{
    Session, SessionBase, SessionKey, SessionTimer, SharedTable, find_or_open, max_idle_option,
};
use super::{Dynamic, FilterArgs};
use crate::engine::event::Event;
use crate::engine::filter::{Cx, Filter, FilterFactory, SubPipeline};
use crate::worker::core::{Core, SharedSink};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// How long an ending session may take to deliver what it holds.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

pub fn build_merge(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let sub = a.sub(0)?;
    let key = Dynamic::from_arg(a, 1);
    let max_idle = max_idle_option(a, 2)?;
    Ok(Box::new(MergeFactory {
        sub,
        key,
        max_idle,
        table: Rc::default(),
    }))
}

struct MergeFactory {
    sub: SubPipeline,
    key: Dynamic,
    max_idle: Duration,
    table: SharedTable<MergeSession>,
}

impl FilterFactory for MergeFactory {
    fn name(&self) -> &'static str {
        "merge"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Merge {
            layout: self.sub.id,
            key: self.key.clone(),
            max_idle: self.max_idle,
            table: self.table.clone(),
            session: None,
            collector: MessageCollector::default(),
        })
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        vec![&mut self.sub]
    }
    fn detail(&self) -> String {
        format!("-> {}", self.sub.name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionState {
    Open,
    Closing,
    Closed,
}

pub struct MergeSession {
    base: SessionBase<MergeSession>,
    state: SessionState,
}

impl MergeSession {
    fn close(&mut self, core: &mut Core) {
        if self.state != SessionState::Open {
            return;
        }
        self.state = SessionState::Closing;
        self.base.end(core, CLOSE_GRACE);
    }

    fn destroy(&mut self, core: &mut Core) {
        if self.state == SessionState::Closed {
            return;
        }
        self.state = SessionState::Closed;
        self.base.destroy(core);
    }
}

impl Session for MergeSession {
    fn base(&mut self) -> &mut SessionBase<Self> {
        &mut self.base
    }
}

impl SharedSink for MergeSession {
    fn on_output(&mut self, _id: u64, ev: Event, core: &mut Core) {
        if matches!(ev, Event::StreamEnd(_)) {
            self.destroy(core);
        }
    }

    fn on_drain(&mut self, _id: u64, core: &mut Core) {
        self.close(core);
    }

    fn on_timer(&mut self, _id: u64, tag: u64, core: &mut Core) {
        match self.base.timer(tag, core) {
            Some(SessionTimer::Idle) => self.close(core),
            Some(SessionTimer::Close) => self.destroy(core),
            None => {}
        }
    }
}

struct Merge {
    layout: Option<usize>,
    key: Dynamic,
    max_idle: Duration,
    table: SharedTable<MergeSession>,
    session: Option<Rc<RefCell<MergeSession>>>,
    collector: MessageCollector,
}

impl Merge {
    fn session(&mut self, cx: &mut Cx) -> Option<Rc<RefCell<MergeSession>>> {
        if let Some(s) = &self.session {
            return Some(s.clone());
        }
        let key = SessionKey::new(&self.key.eval(cx).ok()?);
        let layout = self.layout?;
        let (table, max_idle) = (self.table.clone(), self.max_idle);
        let s = find_or_open(
            &self.table,
            key,
            layout,
            cx,
            |_| true,
            |key| MergeSession {
                base: SessionBase::new(key, table, max_idle),
                state: SessionState::Open,
            },
        );
        self.session = Some(s.clone());
        Some(s)
    }

    fn forward(&mut self, cx: &mut Cx) {
        let Some((head, body)) = self.collector.take() else {
            return;
        };
        let Some(s) = self.session(cx) else {
            return;
        };
        let p = s.borrow().base.pipeline;
        cx.send(p, Event::MessageStart(head));
        if !body.is_empty() {
            cx.send(p, Event::Data(body));
        }
        cx.send(p, Event::MessageEnd);
    }
}

impl Filter for Merge {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match &ev {
            Event::MessageStart(h) => self.collector.start(h),
            Event::Data(d) => self.collector.add(d, None),
            Event::MessageEnd | Event::StreamEnd(_) => self.forward(cx),
        }
        cx.output(ev);
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        let Some(s) = self.session.take() else {
            return;
        };
        let mut s = s.borrow_mut();
        let reusable = s.state == SessionState::Open;
        s.base.release_user(cx.core, reusable);
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "merge",
    "pipeline: string, key: value | () => value, options?: {maxIdle}",
    "Copies each whole message into a session shared by equal keys; input passes through",
    build_merge
)];
