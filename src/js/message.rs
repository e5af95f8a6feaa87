//! Script classes for events: `Data`, `Message`, `MessageStart`, `MessageEnd`, `StreamEnd`.

use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::head::Head;
use boa_engine::class::{Class, ClassBuilder};
use boa_engine::object::builtins::JsArray;
use boa_engine::{
    Context, Finalize, JsArgs, JsData, JsResult, JsString, JsValue, NativeFunction, Trace,
    js_string,
};

use super::builtins::helpers::{type_error, utf8_bytes};
use super::head::{head_to_js, jstr};
use std::cell::RefCell;

// ------------------------------------------------------------------- Data

/// `Data`: bytes as scripts see them.
#[derive(Trace, Finalize, JsData)]
pub struct JsDataObj {
    #[unsafe_ignore_trace]
    pub data: Data,
}

/// Bytes of a string in an encoding name scripts use (`utf8`, `hex`, `base64`, `base64url`).
pub fn decode_string(s: &str, enc: &str) -> Option<Vec<u8>> {
    match enc {
        "" | "utf8" | "utf-8" => Some(s.as_bytes().to_vec()),
        "hex" => {
            let b = s.as_bytes();
            if !b.len().is_multiple_of(2) {
                return None;
            }
            b.chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                .collect()
        }
        "base64" => super::base64::decode(s, false),
        "base64url" => super::base64::decode(s, true),
        _ => None,
    }
}

/// The bytes as a script string in an encoding name scripts use (UTF-8 by default).
pub fn encode_bytes(b: &[u8], enc: &str) -> JsValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match enc {
        "hex" => {
            let mut s = String::with_capacity(b.len() * 2);
            for x in b {
                s.push(HEX[usize::from(x >> 4)] as char);
                s.push(HEX[usize::from(x & 15)] as char);
            }
            JsString::from(s.as_str()).into()
        }
        "base64" => JsString::from(super::base64::encode(b, false).as_str()).into(),
        "base64url" => JsString::from(super::base64::encode(b, true).as_str()).into(),
        _ => jstr(b),
    }
}

/// Converts a script value (Data or string) into bytes.
pub fn to_data(v: &JsValue, ctx: &mut Context) -> JsResult<Option<Data>> {
    if v.is_null_or_undefined() {
        return Ok(None);
    }
    if let Some(o) = v.as_object()
        && let Some(d) = o.downcast_ref::<JsDataObj>()
    {
        return Ok(Some(d.data.clone()));
    }
    Ok(Some(Data::from(utf8_bytes(&v.to_string(ctx)?))))
}

pub fn data_to_js(mut data: Data, ctx: &mut Context) -> JsResult<JsValue> {
    // A script may keep it for as long as it likes; a pipe is too scarce for that.
    data.materialize();
    Ok(JsDataObj::from_data(JsDataObj { data }, ctx)?.into())
}

/// Runs `f` on the `Data` behind `this`.
fn with_data<R>(this: &JsValue, f: impl FnOnce(&mut Data) -> R) -> JsResult<R> {
    let o = this
        .as_object()
        .ok_or_else(|| type_error("not a Data object"))?;
    let mut d = o
        .downcast_mut::<JsDataObj>()
        .ok_or_else(|| type_error("not a Data object"))?;
    Ok(f(&mut d.data))
}

impl Class for JsDataObj {
    const NAME: &'static str = "Data";
    const LENGTH: usize = 2;

    fn data_constructor(_t: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<Self> {
        let a = args.get_or_undefined(0);
        let data = if a.is_undefined() {
            Data::new()
        } else if let Some(s) = a.as_string() {
            let enc = match args.get(1) {
                Some(e) if !e.is_undefined() => e.to_string(ctx)?.to_std_string_escaped(),
                _ => String::new(),
            };
            let s = s.to_std_string_escaped();
            Data::from(decode_string(&s, &enc).ok_or_else(|| type_error("invalid encoding"))?)
        } else if let Some(o) = a.as_object() {
            if let Some(d) = o.downcast_ref::<JsDataObj>() {
                d.data.clone()
            } else if o.is_array() {
                let arr = JsArray::from_object(o.clone())?;
                let n = arr.length(ctx)?;
                let mut v = Vec::with_capacity(n as usize);
                for i in 0..n {
                    v.push(arr.get(i, ctx)?.to_u32(ctx)? as u8);
                }
                Data::from(v)
            } else {
                return Err(type_error("Data() expects a string, an array or a Data"));
            }
        } else {
            return Err(type_error("Data() expects a string, an array or a Data"));
        };
        Ok(JsDataObj { data })
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        let size = NativeFunction::from_fn_ptr(|this, _, _| {
            Ok(JsValue::from(with_data(this, |d| d.len())? as f64))
        })
        .to_js_function(&realm);
        class.accessor(
            js_string!("size"),
            Some(size),
            None,
            boa_engine::property::Attribute::CONFIGURABLE,
        );
        class.method(
            js_string!("push"),
            1,
            NativeFunction::from_fn_ptr(|this, args, ctx| {
                let add = to_data(args.get_or_undefined(0), ctx)?;
                if let Some(add) = add {
                    with_data(this, |d| d.push_data(add))?;
                }
                Ok(this.clone())
            }),
        );
        class.method(
            js_string!("shift"),
            1,
            NativeFunction::from_fn_ptr(|this, args, ctx| {
                let n = args.get_or_undefined(0).to_length(ctx)? as usize;
                let head = with_data(this, |d| d.shift(n))?;
                data_to_js(head, ctx)
            }),
        );
        class.method(
            js_string!("shiftTo"),
            1,
            NativeFunction::from_fn_ptr(|this, args, ctx| shift_by(this, args, ctx, true)),
        );
        class.method(
            js_string!("shiftWhile"),
            1,
            NativeFunction::from_fn_ptr(|this, args, ctx| shift_by(this, args, ctx, false)),
        );
        class.method(
            js_string!("toString"),
            1,
            NativeFunction::from_fn_ptr(|this, args, ctx| {
                let enc = match args.first() {
                    Some(e) if !e.is_undefined() => e.to_string(ctx)?.to_std_string_escaped(),
                    _ => String::new(),
                };
                let bytes = with_data(this, |d| d.to_bytes())?;
                Ok(encode_bytes(&bytes, &enc))
            }),
        );
        class.static_method(
            js_string!("from"),
            2,
            NativeFunction::from_fn_ptr(|_, args, ctx| {
                let s = args
                    .get_or_undefined(0)
                    .to_string(ctx)?
                    .to_std_string_escaped();
                let enc = match args.get(1) {
                    Some(e) if !e.is_undefined() => e.to_string(ctx)?.to_std_string_escaped(),
                    _ => String::new(),
                };
                match decode_string(&s, &enc) {
                    Some(b) => data_to_js(Data::from(b), ctx),
                    None => Ok(JsValue::null()),
                }
            }),
        );
        Ok(())
    }
}

/// `shiftTo(fn)`: up to and including the first byte where fn is true; `shiftWhile(fn)`: leading
/// bytes while fn is true.
fn shift_by(this: &JsValue, args: &[JsValue], ctx: &mut Context, to: bool) -> JsResult<JsValue> {
    let f = args
        .get_or_undefined(0)
        .as_callable()
        .ok_or_else(|| type_error("expects a function"))?;
    let bytes = with_data(this, |d| d.to_vec())?;
    let mut n = 0;
    for b in &bytes {
        let r = f
            .call(&JsValue::undefined(), &[JsValue::from(*b as u32)], ctx)?
            .to_boolean();
        if to {
            n += 1;
            if r {
                break;
            }
        } else if r {
            n += 1;
        } else {
            break;
        }
    }
    let head = with_data(this, |d| d.shift(n))?;
    data_to_js(head, ctx)
}

// ------------------------------------------------------------------- Message

/// A head owned by a script object (`Message`, `MessageStart`).
///
/// The head may hold a script value (`HeadKind::Script`) that the collector cannot see: a `Head`
/// is shared with native holders, so it is not traced. boa does not decrement the reference
/// count of a `Gc` dropped while it sweeps (it assumes the pointer lived in a dead box), so a
/// value whose last handle went away with a swept message stayed rooted forever: every
/// `msg.head` a script read leaked the head object. The handle is therefore released in
/// `finalize`, which runs before the sweep, where dropping a `Gc` counts.
pub struct HeldHead(RefCell<Head>);

impl HeldHead {
    pub fn new(head: Head) -> HeldHead {
        HeldHead(RefCell::new(head))
    }

    pub fn get(&self) -> Head {
        self.0.borrow().clone()
    }

    pub fn set(&self, head: Head) {
        *self.0.borrow_mut() = head;
    }

    /// Drops this object's handle; called from the owner's `finalize`.
    fn release(&self) {
        if let Ok(mut h) = self.0.try_borrow_mut() {
            *h = Head::null();
        }
    }
}

/// `Message`: a head and a body.
#[derive(Trace, JsData)]
pub struct JsMessage {
    #[unsafe_ignore_trace]
    pub head: HeldHead,
    #[unsafe_ignore_trace]
    pub body: Option<Data>,
}

impl Finalize for JsMessage {
    fn finalize(&self) {
        self.head.release();
    }
}

impl JsMessage {
    pub fn new_object(head: Head, mut body: Option<Data>, ctx: &mut Context) -> JsResult<JsValue> {
        if let Some(b) = &mut body {
            // As in `data_to_js`: a script may keep it.
            b.materialize();
        }
        let m = JsMessage {
            head: HeldHead::new(head),
            body,
        };
        Ok(JsMessage::from_data(m, ctx)?.into())
    }
}

/// Runs `f` on the message behind `this`.
fn with_message<R>(this: &JsValue, f: impl FnOnce(&mut JsMessage) -> R) -> JsResult<R> {
    let o = this
        .as_object()
        .ok_or_else(|| type_error("not a Message object"))?;
    let mut m = o
        .downcast_mut::<JsMessage>()
        .ok_or_else(|| type_error("not a Message object"))?;
    Ok(f(&mut m))
}

fn is_body_value(v: &JsValue) -> bool {
    v.is_string() || v.as_object().is_some_and(|o| o.is::<JsDataObj>())
}

impl Class for JsMessage {
    const NAME: &'static str = "Message";
    const LENGTH: usize = 2;

    fn data_constructor(_t: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<Self> {
        let a = args.get_or_undefined(0);
        let (head, body) = if args.len() >= 2 {
            (
                Head::script(a.clone()),
                to_data(args.get_or_undefined(1), ctx)?,
            )
        } else if is_body_value(a) {
            (Head::null(), to_data(a, ctx)?)
        } else {
            (Head::script(a.clone()), None)
        };
        Ok(JsMessage {
            head: HeldHead::new(head),
            body,
        })
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        let get_head = NativeFunction::from_fn_ptr(|this, _, ctx| {
            let head = with_message(this, |m| m.head.get())?;
            head_to_js(&head, ctx)
        })
        .to_js_function(&realm);
        let set_head = NativeFunction::from_fn_ptr(|this, args, _| {
            let h = Head::script(args.get_or_undefined(0).clone());
            with_message(this, |m| m.head.set(h))?;
            Ok(JsValue::undefined())
        })
        .to_js_function(&realm);
        let get_body = NativeFunction::from_fn_ptr(|this, _, ctx| {
            let body = with_message(this, |m| m.body.clone())?;
            match body {
                Some(b) => data_to_js(b, ctx),
                None => Ok(JsValue::null()),
            }
        })
        .to_js_function(&realm);
        let set_body = NativeFunction::from_fn_ptr(|this, args, ctx| {
            let b = to_data(args.get_or_undefined(0), ctx)?;
            with_message(this, |m| m.body = b)?;
            Ok(JsValue::undefined())
        })
        .to_js_function(&realm);
        let attr = boa_engine::property::Attribute::CONFIGURABLE
            | boa_engine::property::Attribute::ENUMERABLE;
        class.accessor(js_string!("head"), Some(get_head), Some(set_head), attr);
        class.accessor(js_string!("body"), Some(get_body), Some(set_body), attr);
        Ok(())
    }
}

// ------------------------------------------------------------------- MessageStart / End / StreamEnd

#[derive(Trace, JsData)]
pub struct JsMessageStart {
    #[unsafe_ignore_trace]
    pub head: HeldHead,
}

impl Finalize for JsMessageStart {
    fn finalize(&self) {
        self.head.release();
    }
}

impl Class for JsMessageStart {
    const NAME: &'static str = "MessageStart";
    const LENGTH: usize = 1;

    fn data_constructor(_t: &JsValue, args: &[JsValue], _: &mut Context) -> JsResult<Self> {
        Ok(JsMessageStart {
            head: HeldHead::new(Head::script(args.get_or_undefined(0).clone())),
        })
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        let get_head = NativeFunction::from_fn_ptr(|this, _, ctx| {
            let head = this
                .as_object()
                .and_then(|o| o.downcast_ref::<JsMessageStart>().map(|m| m.head.get()))
                .ok_or_else(|| type_error("not a MessageStart"))?;
            head_to_js(&head, ctx)
        })
        .to_js_function(&realm);
        class.accessor(
            js_string!("head"),
            Some(get_head),
            None,
            boa_engine::property::Attribute::CONFIGURABLE,
        );
        Ok(())
    }
}

#[derive(Trace, Finalize, JsData)]
pub struct JsMessageEnd;

impl Class for JsMessageEnd {
    const NAME: &'static str = "MessageEnd";

    fn data_constructor(_t: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<Self> {
        Ok(JsMessageEnd)
    }

    fn init(_class: &mut ClassBuilder<'_>) -> JsResult<()> {
        Ok(())
    }
}

#[derive(Trace, Finalize, JsData)]
pub struct JsStreamEnd {
    #[unsafe_ignore_trace]
    pub error: StreamError,
}

impl Class for JsStreamEnd {
    const NAME: &'static str = "StreamEnd";
    const LENGTH: usize = 1;

    fn data_constructor(_t: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<Self> {
        let a = args.get_or_undefined(0);
        let error = if a.is_null_or_undefined() {
            StreamError::None
        } else {
            let name = a.to_string(ctx)?.to_std_string_escaped();
            StreamError::from_name(&name)
                .ok_or_else(|| type_error(format!("unknown StreamEnd error: {name}")))?
        };
        Ok(JsStreamEnd { error })
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        let get = NativeFunction::from_fn_ptr(|this, _, _| {
            let e = this
                .as_object()
                .and_then(|o| o.downcast_ref::<JsStreamEnd>().map(|m| m.error))
                .ok_or_else(|| type_error("not a StreamEnd"))?;
            Ok(JsString::from(e.name()).into())
        })
        .to_js_function(&realm);
        class.accessor(
            js_string!("error"),
            Some(get),
            None,
            boa_engine::property::Attribute::CONFIGURABLE,
        );
        Ok(())
    }
}

/// Registers the event classes in the current realm.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    ctx.register_global_class::<JsDataObj>()?;
    ctx.register_global_class::<JsMessage>()?;
    ctx.register_global_class::<JsMessageStart>()?;
    ctx.register_global_class::<JsMessageEnd>()?;
    ctx.register_global_class::<JsStreamEnd>()?;
    Ok(())
}

// ------------------------------------------------------------------- conversions

/// An event as a script value (for handle*/replace* callbacks).
pub fn event_to_js(ev: &Event, ctx: &mut Context) -> JsResult<JsValue> {
    Ok(match ev {
        Event::Data(d) => data_to_js(d.clone(), ctx)?,
        Event::MessageStart(h) => JsMessageStart::from_data(
            JsMessageStart {
                head: HeldHead::new(h.clone()),
            },
            ctx,
        )?
        .into(),
        Event::MessageEnd => JsMessageEnd::from_data(JsMessageEnd, ctx)?.into(),
        Event::StreamEnd(e) => JsStreamEnd::from_data(JsStreamEnd { error: *e }, ctx)?.into(),
    })
}

/// Expands what a replace* callback returned into events: an Event, a Message (start, body,
/// end), an array of those, or null/undefined for nothing. `Err` names what was wrong.
pub fn js_to_events(v: &JsValue, out: &mut Vec<Event>, ctx: &mut Context) -> Result<(), String> {
    if v.is_null_or_undefined() {
        return Ok(());
    }
    let Some(o) = v.as_object() else {
        return Err("not an Event object".into());
    };
    if let Some(m) = o.downcast_ref::<JsMessage>() {
        out.push(Event::MessageStart(m.head.get()));
        if let Some(b) = &m.body
            && !b.is_empty()
        {
            out.push(Event::Data(b.clone()));
        }
        out.push(Event::MessageEnd);
        return Ok(());
    }
    if let Some(d) = o.downcast_ref::<JsDataObj>() {
        out.push(Event::Data(d.data.clone()));
        return Ok(());
    }
    if let Some(m) = o.downcast_ref::<JsMessageStart>() {
        out.push(Event::MessageStart(m.head.get()));
        return Ok(());
    }
    if o.is::<JsMessageEnd>() {
        out.push(Event::MessageEnd);
        return Ok(());
    }
    if let Some(e) = o.downcast_ref::<JsStreamEnd>() {
        out.push(Event::StreamEnd(e.error));
        return Ok(());
    }
    if o.is_array() {
        let arr = JsArray::from_object(o.clone()).map_err(|e| e.to_string())?;
        let n = arr.length(ctx).map_err(|e| e.to_string())?;
        for i in 0..n {
            let item = arr.get(i, ctx).map_err(|e| e.to_string())?;
            js_to_events(&item, out, ctx)?;
        }
        return Ok(());
    }
    Err("not an Event object".into())
}

/// A `Message` returned by a callback: its head and body.
pub fn js_to_message(v: &JsValue) -> Option<(Head, Option<Data>)> {
    let o = v.as_object()?;
    let m = o.downcast_ref::<JsMessage>()?;
    Some((m.head.get(), m.body.clone()))
}
