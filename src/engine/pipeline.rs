//! Pipeline layouts (static, from the script) and instances (runtime, one per session).

use super::context::ContextRef;
use super::filter::{Filter, FilterFactory};
use std::rc::Rc;

pub type LayoutId = usize;

/// What kind of root a layout is, if any.
#[derive(Clone, Debug)]
pub enum LayoutKind {
    /// `pipeline(name)`: only reachable from joint filters.
    Named,
    /// `listen(addr)`: one instance per accepted connection.
    Listen(String),
    /// `task(when)`.
    Task(String),
    /// `read(path)`.
    Read(String),
}

/// A list of filter factories built once from the script.
pub struct Layout {
    pub name: String,
    pub kind: LayoutKind,
    /// Index of the module that defined it.
    pub module: usize,
    pub filters: Vec<Box<dyn FilterFactory>>,
    /// The filters an instance is made of: `filters`, with what inlines others (a `use` chain)
    /// replaced by them. Filled by `engine::plan::plan_layouts` once the script is loaded.
    pub plan: Vec<Step>,
}

impl Layout {
    /// How the graph print (`--verify`) and the logs name it.
    pub fn title(&self) -> String {
        match &self.kind {
            LayoutKind::Named => format!("pipeline {}", self.name),
            LayoutKind::Listen(a) => format!("[Listen on {a}]"),
            LayoutKind::Task(w) => format!("[Task {w}]"),
            LayoutKind::Read(p) => format!("[Read {p}]"),
        }
    }
}

/// One filter of a layout's instances.
#[derive(Clone)]
pub enum Step {
    /// Made by filter `index` of layout `layout` (this layout's own, or an inlined one's).
    Filter { layout: LayoutId, index: usize },
    /// Made by a factory the planner asked for (an inlined `use` chain's gate).
    Planned(Rc<dyn FilterFactory>),
}

/// Handle of a pipeline instance. `generation` guards against a recycled slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PipelineId {
    pub index: u32,
    pub generation: u32,
}

/// Where the output of a pipeline instance goes.
#[derive(Clone, Copy, Debug)]
pub enum Sink {
    /// Back to the joint filter that spawned it.
    Filter {
        pipeline: PipelineId,
        filter: usize,
        tag: u64,
    },
    /// Written to a socket (the inbound connection of a listen pipeline).
    Socket(usize),
    /// A task pipeline: only its `StreamEnd` matters.
    Task(usize),
    /// A receiver shared by many pipelines (a muxHTTP/merge session), registered with
    /// `Core::register_shared`.
    Shared(u64),
    Discard,
}

/// A running instance of a layout.
pub struct Instance {
    pub layout: LayoutId,
    pub generation: u32,
    /// Taken out while the instance is running; `None` means "busy".
    pub filters: Option<Vec<Box<dyn Filter>>>,
    /// One bit per filter: that filter has seen a StreamEnd and ignores further input.
    pub ended: u64,
    pub context: ContextRef,
    pub sink: Sink,
    pub destroyed: bool,
}
