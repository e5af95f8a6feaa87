//! Keys and tables of shared sessions (`muxHTTP`, `merge`): requests whose keys are equal share
//! one instance of a sub-pipeline (typically one upstream connection).

use boa_engine::{JsObject, JsValue};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A session key: compared by value for primitives and by identity for objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SessionKey {
    Undefined,
    Null,
    Bool(bool),
    Number(u64),
    String(String),
    Object(JsObject),
}

impl SessionKey {
    pub fn from_js(v: &JsValue) -> SessionKey {
        if v.is_undefined() {
            SessionKey::Undefined
        } else if v.is_null() {
            SessionKey::Null
        } else if let Some(b) = v.as_boolean() {
            SessionKey::Bool(b)
        } else if let Some(n) = v.as_number() {
            // -0 and 0 are one key; NaN keys are all equal.
            let n = if n == 0.0 { 0.0 } else { n };
            SessionKey::Number(n.to_bits())
        } else if let Some(s) = v.as_string() {
            SessionKey::String(s.to_std_string_escaped())
        } else if let Some(o) = v.as_object() {
            SessionKey::Object(o)
        } else {
            SessionKey::Undefined
        }
    }
}

/// Sessions of one filter definition, by key. Each entry carries the session's shared-sink id so
/// a session can remove itself while it is borrowed.
pub struct SessionTable<S> {
    pub sessions: HashMap<SessionKey, (u64, Rc<RefCell<S>>)>,
}

impl<S> Default for SessionTable<S> {
    fn default() -> Self {
        SessionTable {
            sessions: HashMap::new(),
        }
    }
}

impl<S> SessionTable<S> {
    /// Removes `key` only if it still maps to session `id` (a newer one may have replaced it).
    pub fn remove_if(&mut self, key: &SessionKey, id: u64) {
        if self.sessions.get(key).is_some_and(|(i, _)| *i == id) {
            self.sessions.remove(key);
        }
    }
}

pub type SharedTable<S> = Rc<RefCell<SessionTable<S>>>;
