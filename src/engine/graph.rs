//! The evaluated script: every module's layouts, listeners and tasks. Built once in the master
//! and inherited by forked workers.

use super::filter::FilterFactory;
use super::pipeline::{Layout, LayoutId, Step};
use crate::net::listener::ListenOptions;
use boa_engine::JsValue;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One script file and its context variables.
pub struct ModuleInfo {
    /// Display name used in logs and errors (relative to the main script's directory).
    pub name: String,
    /// Variable names, in slot order.
    pub var_names: Vec<String>,
    /// Initial value of each slot; copied into every new root context.
    pub initial: Vec<JsValue>,
}

pub struct ListenSpec {
    pub addr: SocketAddr,
    pub layout: LayoutId,
    pub options: ListenOptions,
}

/// When a task pipeline runs.
#[derive(Clone, Debug)]
pub enum TaskSchedule {
    Once,
    Every(Duration),
    Signal(i32),
}

pub struct TaskSpec {
    pub layout: LayoutId,
    pub schedule: TaskSchedule,
}

#[derive(Default)]
pub struct Graph {
    pub layouts: Vec<Layout>,
    pub modules: Vec<ModuleInfo>,
    pub listens: Vec<ListenSpec>,
    pub tasks: Vec<TaskSpec>,
    pub reads: Vec<(LayoutId, PathBuf)>,
}

impl Graph {
    /// Initial slot values of every module, for `SlotLayout::new`.
    pub fn initial_values(&self) -> Vec<Vec<JsValue>> {
        self.modules.iter().map(|m| m.initial.clone()).collect()
    }

    /// The factory that makes an instance's filter at `step` of its layout's plan.
    pub fn factory<'a>(&'a self, step: &'a Step) -> Option<&'a dyn FilterFactory> {
        match step {
            Step::Filter { layout, index } => self
                .layouts
                .get(*layout)
                .and_then(|l| l.filters.get(*index))
                .map(|f| f.as_ref()),
            Step::Planned(f) => Some(f.as_ref()),
        }
    }

    /// Text tree of every module's layouts, as `--verify` prints it.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (mi, m) in self.modules.iter().enumerate() {
            let title = format!("Module {}", m.name);
            s.push_str(&title);
            s.push('\n');
            s.push_str(&"=".repeat(title.len()));
            s.push('\n');
            for l in self.layouts.iter().filter(|l| l.module == mi) {
                s.push_str(&format!("  {}\n", l.title()));
                for f in &l.filters {
                    let d = f.detail();
                    if d.is_empty() {
                        s.push_str(&format!("    -> {}\n", f.name()));
                    } else {
                        s.push_str(&format!("    -> {} {}\n", f.name(), d));
                    }
                }
            }
            s.push('\n');
        }
        s
    }
}
