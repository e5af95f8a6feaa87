//! `fork(name, init?)`: copies every event into one or more sub-pipelines and outputs the original
//! events unchanged; the sub-pipelines' output is discarded.
//!
//! Without `init` one sub-pipeline shares this pipeline's context. With an object, one
//! sub-pipeline gets a cloned context whose variables (of this module) are assigned from the
//! object. With an array (or a function returning one), each element gives one sub-pipeline with
//! a cloned context assigned from that element.

use super::{Callback, FilterArgs};
use crate::engine::context::{Context, ContextRef};
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory, SubPipeline};
use crate::engine::pipeline::PipelineId;
use crate::js::builtins::helpers::array_elements;
use boa_engine::property::PropertyKey;
use boa_engine::{JsObject, JsValue};

/// The second argument of `fork`.
#[derive(Clone)]
enum Init {
    /// One sub-pipeline sharing the context.
    Shared,
    /// An object, or an array of objects, given at configuration time.
    Value(JsValue),
    /// A function returning an array of objects, called on the first event.
    Func(Callback),
}

pub fn build_fork(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let sub = a.sub(0)?;
    let v = a.arg(1);
    let init = if let Some(cb) = a.callback(1) {
        Init::Func(cb)
    } else if v.is_null_or_undefined() {
        Init::Shared
    } else if v.is_object() {
        Init::Value(v)
    } else {
        return Err("argument #2 must be an object, an array or a function".into());
    };
    Ok(Box::new(ForkFactory {
        sub,
        init,
        module: a.module,
    }))
}

struct ForkFactory {
    sub: SubPipeline,
    init: Init,
    module: usize,
}

impl FilterFactory for ForkFactory {
    fn name(&self) -> &'static str {
        "fork"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Fork {
            layout: self.sub.id,
            init: self.init.clone(),
            module: self.module,
            state: State::Idle,
        })
    }
    fn sub_pipelines(&mut self) -> Vec<&mut SubPipeline> {
        vec![&mut self.sub]
    }
    fn detail(&self) -> String {
        format!("-> {}", self.sub.name)
    }
}

enum State {
    /// No event seen yet.
    Idle,
    Forking(Vec<PipelineId>),
    /// Nothing to fork into (bypass name, or an invalid initializer list).
    PassThrough,
}

struct Fork {
    layout: Option<usize>,
    init: Init,
    module: usize,
    state: State,
}

impl Fork {
    /// Creates the sub-pipelines on the first event.
    fn start(&mut self, cx: &mut Cx) -> Result<State, ()> {
        let Some(layout) = self.layout else {
            return Ok(State::PassThrough);
        };
        let init = match &self.init {
            Init::Shared => {
                let ctx = cx.context.clone();
                return Ok(State::Forking(vec![cx.spawn_detached(layout, ctx)]));
            }
            Init::Value(v) => v.clone(),
            Init::Func(cb) => cb.call(cx, &[])?,
        };
        let Some(obj) = init.as_object() else {
            log::error!("[fork] invalid initializer list");
            return Ok(State::PassThrough);
        };
        let elements = if obj.is_array() {
            self.array_elements(&obj, cx)?
        } else if matches!(self.init, Init::Func(_)) {
            log::error!("[fork] invalid initializer list");
            return Ok(State::PassThrough);
        } else {
            vec![init]
        };
        let mut pipes = Vec::with_capacity(elements.len());
        for el in elements {
            let ctx = Context::clone_from(cx.context);
            if let Some(o) = el.as_object() {
                self.assign(&ctx, &o, cx)?;
            }
            pipes.push(cx.spawn_detached(layout, ctx));
        }
        Ok(State::Forking(pipes))
    }

    fn array_elements(&self, arr: &JsObject, cx: &mut Cx) -> Result<Vec<JsValue>, ()> {
        let ctx = cx.core.js.enter(self.module);
        array_elements(arr, ctx).map_err(|e| log::error!("[fork] {e}"))
    }

    /// Sets this module's variables in `target` from the properties of `obj`.
    fn assign(&self, target: &ContextRef, obj: &JsObject, cx: &mut Cx) -> Result<(), ()> {
        let graph = cx.core.graph.clone();
        let Some(info) = graph.modules.get(self.module) else {
            return Ok(());
        };
        let ctx = cx.core.js.enter(self.module);
        let read = (|| -> boa_engine::JsResult<Vec<(String, JsValue)>> {
            let mut out = Vec::new();
            for key in obj.own_property_keys(ctx)? {
                let PropertyKey::String(k) = &key else {
                    continue;
                };
                out.push((k.to_std_string_escaped(), obj.get(key.clone(), ctx)?));
            }
            Ok(out)
        })();
        let pairs = read.map_err(|e| log::error!("[fork] {e}"))?;
        for (name, v) in pairs {
            match info.var_names.iter().position(|n| *n == name) {
                Some(slot) => target.set(self.module, slot, v),
                None => log::debug!("[fork] {name} is not a context variable of {}", info.name),
            }
        }
        Ok(())
    }
}

impl Filter for Fork {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if matches!(self.state, State::Idle) {
            self.state = match self.start(cx) {
                Ok(s) => s,
                Err(()) => {
                    self.state = State::PassThrough;
                    cx.output(Event::StreamEnd(StreamError::RuntimeError));
                    return;
                }
            };
        }
        if let State::Forking(pipes) = &self.state {
            for &p in pipes {
                cx.send(p, ev.clone());
            }
        }
        cx.output(ev);
    }

    fn on_destroy(&mut self, cx: &mut Cx) {
        if let State::Forking(pipes) = &self.state {
            for &p in pipes {
                cx.destroy(p);
            }
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "fork",
    "pipeline: string, init?: object | object[] | () => object[]",
    "Copies the stream into sub-pipelines (shared context, or one cloned context per initializer) and passes it on",
    build_fork
),];
