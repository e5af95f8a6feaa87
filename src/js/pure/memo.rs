//! Own properties of script objects, remembered for as long as the script epoch stands.
//!
//! boa's public API reads a property by building a whole property descriptor: several hundred
//! instructions, most of them the descriptor's builder and its drop. A compiled callback reads
//! the same few properties on every request: `Boolean` on the global object,
//! `URLRouter.prototype.find`, the `head` accessor of `MessageStart.prototype`, fields of the
//! route objects a router returns. Script objects change only while the worker has handed the
//! engine out, and every such hand-out moves the epoch ([`ScriptEpoch`]), so a property read
//! under the current epoch still holds. The memo forgets everything when the epoch moves.
//!
//! The memo keeps the objects it describes alive, so no other object can take an address it
//! remembers.

use crate::js::runtime::ScriptEpoch;
use boa_engine::JsValue;
use boa_engine::object::JsObject;
use boa_engine::property::PropertyKey;
use std::cell::RefCell;

/// Properties remembered per evaluator: more than a callback reads per call, few enough to scan.
const CAPACITY: usize = 16;

/// An own property as the evaluator needs it.
#[derive(Clone)]
pub enum Own {
    Absent,
    Data(JsValue),
    /// An accessor, with its getter if it has one.
    Accessor(Option<JsObject>),
}

impl Own {
    /// `o`'s own property `key`, read now (one descriptor built).
    pub fn read(o: &JsObject, key: &PropertyKey) -> Own {
        match o.borrow().properties().get(key) {
            None => Own::Absent,
            Some(d) if d.is_accessor_descriptor() => {
                Own::Accessor(d.get().and_then(JsValue::as_object))
            }
            Some(d) => Own::Data(d.value().cloned().unwrap_or_default()),
        }
    }

    /// The value of a data property; `None` for an accessor or no property.
    pub fn data(self) -> Option<JsValue> {
        match self {
            Own::Data(v) => Some(v),
            Own::Absent | Own::Accessor(_) => None,
        }
    }

    /// The getter of an accessor property.
    pub fn getter(self) -> Option<JsObject> {
        match self {
            Own::Accessor(g) => g,
            Own::Absent | Own::Data(_) => None,
        }
    }
}

#[derive(Default)]
pub struct PropertyMemo {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    epoch: Option<ScriptEpoch>,
    entries: Vec<(JsObject, PropertyKey, Own)>,
    /// Where the next entry goes once the memo is full.
    next: usize,
}

impl PropertyMemo {
    /// Called before an evaluation under `epoch`: forgets what was read under another one.
    pub fn begin(&self, epoch: ScriptEpoch) {
        let mut s = self.state.borrow_mut();
        if s.epoch != Some(epoch) {
            s.epoch = Some(epoch);
            s.entries.clear();
            s.next = 0;
        }
    }

    /// `o`'s own property `key`. An absent property is not remembered: finding that out costs
    /// no descriptor.
    pub fn own(&self, o: &JsObject, key: &PropertyKey) -> Own {
        let mut s = self.state.borrow_mut();
        let hit = s
            .entries
            .iter()
            .find(|(obj, k, _)| JsObject::equals(obj, o) && k == key);
        if let Some((_, _, own)) = hit {
            return own.clone();
        }
        let own = Own::read(o, key);
        if matches!(own, Own::Absent) {
            return own;
        }
        let entry = (o.clone(), key.clone(), own.clone());
        if s.entries.len() < CAPACITY {
            s.entries.push(entry);
        } else {
            let at = s.next;
            s.entries[at] = entry;
            s.next = (at + 1) % CAPACITY;
        }
        own
    }
}
