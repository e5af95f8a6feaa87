//! Message heads. A head stays native (parsed HTTP) until a script touches it; it then becomes a JS
//! object in place, shared by every holder, so the script's mutations reach the encoder.

use crate::http::head::{RequestHead, ResponseHead};
use boa_engine::JsValue;
use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

/// What a head currently is.
#[derive(Debug)]
pub enum HeadKind {
    /// `null` head (e.g. `new MessageStart()`, task input).
    Null,
    Request(RequestHead),
    Response(ResponseHead),
    /// An object a script created or touched.
    Script(JsValue),
}

/// Shared, mutable message head.
#[derive(Clone, Debug)]
pub struct Head(Rc<RefCell<HeadKind>>);

impl Head {
    pub fn new(kind: HeadKind) -> Head {
        Head(Rc::new(RefCell::new(kind)))
    }

    pub fn null() -> Head {
        Head::new(HeadKind::Null)
    }

    pub fn request(h: RequestHead) -> Head {
        Head::new(HeadKind::Request(h))
    }

    pub fn response(h: ResponseHead) -> Head {
        Head::new(HeadKind::Response(h))
    }

    pub fn script(v: JsValue) -> Head {
        if v.is_null_or_undefined() {
            Head::null()
        } else {
            Head::new(HeadKind::Script(v))
        }
    }

    pub fn get(&self) -> Ref<'_, HeadKind> {
        self.0.borrow()
    }

    pub fn get_mut(&self) -> RefMut<'_, HeadKind> {
        self.0.borrow_mut()
    }

    /// The head's kind, moved out when this is the only holder (the common case for a head
    /// passing through to an encoder), or `Err(self)` when it is shared.
    pub fn into_kind(self) -> Result<HeadKind, Head> {
        Rc::try_unwrap(self.0)
            .map(RefCell::into_inner)
            .map_err(Head)
    }
}
