//! Conversions between native HTTP heads and the objects scripts see.
//!
//! A native head becomes a JS object only when a script reads it; the object then replaces the
//! native head in place so the script's changes reach the encoder.

use super::native_head::{NativeFields, NativeHead, head_object};
use crate::engine::head::{Head, HeadKind};
use crate::http::head::{Headers, RequestHead, ResponseHead, Version};
use boa_engine::builtins::object::OrdinaryObject;
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsArray;
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::string::JsStrVariant;
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue, js_string};
use bytes::Bytes;

pub(super) fn jstr(b: &[u8]) -> JsValue {
    match std::str::from_utf8(b) {
        Ok(s) => JsString::from(s).into(),
        Err(_) => JsString::from(String::from_utf8_lossy(b).as_ref()).into(),
    }
}

/// A script string as bytes: UTF-8, copied straight from ASCII strings (header names and values,
/// paths) without going through `char`s.
pub(super) fn string_bytes(s: &JsString) -> Bytes {
    match s.as_str().variant() {
        JsStrVariant::Latin1(b) if b.is_ascii() => Bytes::copy_from_slice(b),
        _ => Bytes::from(s.to_std_string_escaped()),
    }
}

/// The reason phrase a response head carries or its status implies.
pub(super) fn reason_of(r: &ResponseHead) -> Bytes {
    if r.reason.is_empty() {
        Bytes::from_static(
            crate::http::status::reason_phrase(r.status)
                .unwrap_or("OK")
                .as_bytes(),
        )
    } else {
        r.reason.clone()
    }
}

/// A plain object (`Object.prototype`) on the realm's shared shapes: objects built with the same
/// keys in the same order share one shape and its cached transitions, where
/// `JsObject::with_object_proto` gives every object a hash table of its own (an allocation per
/// object plus rehashing as properties are added).
pub fn plain_object(ctx: &mut Context) -> JsObject {
    ObjectInitializer::with_native_data(OrdinaryObject, ctx).build()
}

/// Defines a plain data property without running [[Set]] (no prototype walk, no setters): the
/// objects built here are fresh, so the result is the same and several times cheaper.
fn put(o: &JsObject, key: impl Into<PropertyKey>, v: impl Into<JsValue>) {
    o.insert_property(
        key,
        PropertyDescriptor::builder()
            .value(v)
            .writable(true)
            .enumerable(true)
            .configurable(true),
    );
}

pub(super) fn headers_to_js(h: &Headers, ctx: &mut Context) -> JsResult<JsObject> {
    let o = plain_object(ctx);
    let mut cookies: Option<Vec<JsValue>> = None;
    for (k, v) in h.iter() {
        if k.as_ref() == b"set-cookie" {
            cookies.get_or_insert_with(Vec::new).push(jstr(v));
            continue;
        }
        put(
            &o,
            JsString::from(String::from_utf8_lossy(k).as_ref()),
            jstr(v),
        );
    }
    if let Some(c) = cookies {
        let arr = JsArray::from_iter(c, ctx);
        put(&o, js_string!("set-cookie"), arr);
    }
    Ok(o)
}

/// The script value of a head without changing its representation: a native head becomes a
/// plain snapshot (for display).
pub fn head_value(h: &Head, ctx: &mut Context) -> JsResult<JsValue> {
    let kind = h.get();
    Ok(match &*kind {
        HeadKind::Null => JsValue::null(),
        HeadKind::Script(v) => v.clone(),
        HeadKind::Request(r) => {
            let o = plain_object(ctx);
            put(
                &o,
                js_string!("protocol"),
                jstr(r.version.as_str().as_bytes()),
            );
            put(&o, js_string!("headers"), headers_to_js(&r.headers, ctx)?);
            put(&o, js_string!("method"), jstr(&r.method));
            put(&o, js_string!("path"), jstr(&r.path));
            o.into()
        }
        HeadKind::Response(r) => {
            let o = plain_object(ctx);
            put(
                &o,
                js_string!("protocol"),
                jstr(r.version.as_str().as_bytes()),
            );
            put(&o, js_string!("headers"), headers_to_js(&r.headers, ctx)?);
            put(&o, js_string!("status"), r.status as i32);
            put(&o, js_string!("statusText"), jstr(&reason_of(r)));
            o.into()
        }
    })
}

/// The head as a script object; a native head moves into a head object once
/// (`native_head`), which then stands for it in every holder.
pub fn head_to_js(h: &Head, ctx: &mut Context) -> JsResult<JsValue> {
    let mut kind = h.get_mut();
    let fields = match std::mem::replace(&mut *kind, HeadKind::Null) {
        HeadKind::Request(r) => NativeFields::Request(r),
        HeadKind::Response(r) => NativeFields::Response(r),
        HeadKind::Null => return Ok(JsValue::null()),
        HeadKind::Script(v) => {
            *kind = HeadKind::Script(v.clone());
            return Ok(v);
        }
    };
    drop(kind);
    let v: JsValue = head_object(fields, ctx).into();
    *h.get_mut() = HeadKind::Script(v.clone());
    Ok(v)
}

/// The native head behind a head object, if `v` is one.
fn native_of(v: &JsValue) -> Option<JsObject> {
    v.as_object().filter(|o| o.is::<NativeHead>())
}

fn get_str(o: &JsObject, key: JsString, ctx: &mut Context) -> JsResult<Option<String>> {
    let v = o.get(key, ctx)?;
    if v.is_null_or_undefined() {
        return Ok(None);
    }
    Ok(Some(v.to_string(ctx)?.to_std_string_escaped()))
}

fn js_headers(o: &JsObject, ctx: &mut Context) -> JsResult<Headers> {
    let hv = o.get(js_string!("headers"), ctx)?;
    headers_of_value(&hv, ctx)
}

/// Headers from a script's `headers` object (anything else means none).
pub(super) fn headers_of_value(hv: &JsValue, ctx: &mut Context) -> JsResult<Headers> {
    let mut out = Headers::new();
    let Some(ho) = hv.as_object() else {
        return Ok(out);
    };
    for key in ho.own_property_keys(ctx)? {
        let name = match &key {
            PropertyKey::String(s) => string_bytes(s),
            PropertyKey::Index(i) => Bytes::from(i.get().to_string()),
            PropertyKey::Symbol(_) => continue,
        };
        let v = ho.get(key, ctx)?;
        if v.is_null_or_undefined() {
            continue;
        }
        if let Some(arr) = v.as_object().filter(|a| a.is_array()) {
            let arr = JsArray::from_object(arr.clone())?;
            let n = arr.length(ctx)?;
            for i in 0..n {
                let item = arr.get(i, ctx)?.to_string(ctx)?;
                out.append(name.clone(), string_bytes(&item));
            }
        } else {
            let s = v.to_string(ctx)?;
            out.append(name, string_bytes(&s));
        }
    }
    Ok(out)
}

fn js_version(o: &JsObject, ctx: &mut Context) -> JsResult<Version> {
    Ok(get_str(o, js_string!("protocol"), ctx)?
        .and_then(|p| Version::from_bytes(p.as_bytes()))
        .unwrap_or(Version::Http11))
}

/// A response head snapshot for encoding; `None` fields mean "default" (status 200).
pub fn response_of(h: &Head, ctx: &mut Context) -> JsResult<ResponseHead> {
    let kind = h.get();
    match &*kind {
        HeadKind::Response(r) => Ok(r.clone()),
        HeadKind::Script(v) if let Some(o) = native_of(v) => {
            drop(kind);
            let Some(n) = o.downcast_ref::<NativeHead>() else {
                unreachable!("checked by native_of")
            };
            n.response(ctx)
        }
        HeadKind::Script(v) if v.is_object() => {
            let Some(o) = v.as_object() else {
                unreachable!("checked is_object")
            };
            let o = o.clone();
            drop(kind);
            let status_v = o.get(js_string!("status"), ctx)?;
            let status = if status_v.is_null_or_undefined() {
                200
            } else {
                let n = status_v.to_number(ctx)?;
                if n.is_finite() && (100.0..1000.0).contains(&n) {
                    n as u16
                } else {
                    200
                }
            };
            let reason = get_str(&o, js_string!("statusText"), ctx)?.unwrap_or_default();
            Ok(ResponseHead {
                version: js_version(&o, ctx)?,
                status,
                reason: Bytes::from(reason),
                headers: js_headers(&o, ctx)?,
            })
        }
        _ => Ok(ResponseHead {
            version: Version::Http11,
            status: 200,
            reason: Bytes::new(),
            headers: Headers::new(),
        }),
    }
}

/// A request head snapshot for encoding (defaults `GET / HTTP/1.1`).
pub fn request_of(h: &Head, ctx: &mut Context) -> JsResult<RequestHead> {
    let kind = h.get();
    match &*kind {
        HeadKind::Request(r) => Ok(r.clone()),
        HeadKind::Script(v) if let Some(o) = native_of(v) => {
            drop(kind);
            let Some(n) = o.downcast_ref::<NativeHead>() else {
                unreachable!("checked by native_of")
            };
            n.request(ctx)
        }
        HeadKind::Script(v) if v.is_object() => {
            let Some(o) = v.as_object() else {
                unreachable!("checked is_object")
            };
            let o = o.clone();
            drop(kind);
            let method = get_str(&o, js_string!("method"), ctx)?.unwrap_or_else(|| "GET".into());
            let path = get_str(&o, js_string!("path"), ctx)?.unwrap_or_else(|| "/".into());
            Ok(RequestHead {
                method: Bytes::from(method),
                path: Bytes::from(path),
                version: js_version(&o, ctx)?,
                headers: js_headers(&o, ctx)?,
            })
        }
        _ => Ok(RequestHead {
            method: Bytes::from_static(b"GET"),
            path: Bytes::from_static(b"/"),
            version: Version::Http11,
            headers: Headers::new(),
        }),
    }
}
