//! Script globals other than the event classes: `pipy` (load, exit), `console`, `os`,
//! `JSON.decode/encode`, `__inbound`, `__filename`.

use super::builtins::helpers::utf8_bytes;
use super::message::{data_to_js, to_data};
use crate::engine::context;
use crate::engine::data::Data;
use boa_engine::object::ObjectInitializer;
use boa_engine::property::{Attribute, PropertyDescriptor};
use boa_engine::{
    Context, JsArgs, JsNativeError, JsObject, JsResult, JsString, JsValue, NativeFunction,
    js_string,
};

/// Installs the globals of a module (named `name`) into the current realm; `pipy` is the
/// module's `pipy(vars)` function, which gets `load`, `exit` and `restart`.
pub fn register(ctx: &mut Context, pipy: JsObject, name: &str) -> JsResult<()> {
    let members: [(JsString, NativeFunction); 3] = [
        (js_string!("load"), NativeFunction::from_fn_ptr(pipy_load)),
        (js_string!("exit"), NativeFunction::from_fn_ptr(pipy_exit)),
        (
            js_string!("restart"),
            NativeFunction::from_fn_ptr(pipy_restart),
        ),
    ];
    for (key, f) in members {
        let f = f.to_js_function(ctx.realm());
        pipy.set(key, f, false, ctx)?;
    }
    ctx.register_global_property(js_string!("pipy"), pipy, Attribute::all())?;

    let console = ObjectInitializer::new(ctx)
        .function(
            NativeFunction::from_fn_ptr(|_, a, c| console_out(a, c, log::Level::Info)),
            js_string!("log"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(|_, a, c| console_out(a, c, log::Level::Info)),
            js_string!("info"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(|_, a, c| console_out(a, c, log::Level::Debug)),
            js_string!("debug"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(|_, a, c| console_out(a, c, log::Level::Warn)),
            js_string!("warn"),
            0,
        )
        .function(
            NativeFunction::from_fn_ptr(|_, a, c| console_out(a, c, log::Level::Error)),
            js_string!("error"),
            0,
        )
        .build();
    ctx.register_global_property(js_string!("console"), console, Attribute::all())?;

    let env = JsObject::with_object_proto(ctx.intrinsics());
    for (k, v) in std::env::vars() {
        env.set(
            JsString::from(k.as_str()),
            JsString::from(v.as_str()),
            false,
            ctx,
        )?;
    }
    let os = ObjectInitializer::new(ctx)
        .property(js_string!("env"), env, Attribute::all())
        .function(
            NativeFunction::from_fn_ptr(os_read_file),
            js_string!("readFile"),
            1,
        )
        .function(
            NativeFunction::from_fn_ptr(os_write_file),
            js_string!("writeFile"),
            2,
        )
        .build();
    ctx.register_global_property(js_string!("os"), os, Attribute::all())?;

    let json = ctx.global_object().get(js_string!("JSON"), ctx)?;
    if let Some(json) = json.as_object() {
        let decode = NativeFunction::from_fn_ptr(json_decode).to_js_function(ctx.realm());
        let encode = NativeFunction::from_fn_ptr(json_encode).to_js_function(ctx.realm());
        json.set(js_string!("decode"), decode, false, ctx)?;
        json.set(js_string!("encode"), encode, false, ctx)?;
    }

    let inbound = NativeFunction::from_fn_ptr(inbound_getter).to_js_function(ctx.realm());
    ctx.global_object().define_property_or_throw(
        js_string!("__inbound"),
        PropertyDescriptor::builder()
            .get(inbound)
            .enumerable(false)
            .configurable(false)
            .build(),
        ctx,
    )?;
    ctx.register_global_property(
        js_string!("__filename"),
        JsString::from(name),
        Attribute::READONLY,
    )?;
    super::http_file::register(ctx)?;
    super::xml_data::register(ctx)?;
    Ok(())
}

fn pipy_load(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let rel = args
        .get_or_undefined(0)
        .to_string(ctx)?
        .to_std_string_escaped();
    let path = match super::config::module_path(&rel) {
        Ok((p, _)) => p,
        // At run time (after loading) paths resolve against the working directory, which the
        // daemon sets to the script's directory.
        Err(_) => std::path::PathBuf::from(rel.trim_start_matches('/')),
    };
    match std::fs::read(&path) {
        Ok(b) => data_to_js(b.into(), ctx),
        Err(_) => Ok(JsValue::null()),
    }
}

fn pipy_exit(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let code = args.get_or_undefined(0).to_i32(ctx).unwrap_or(0);
    log::info!("pipy.exit({code}) called by script");
    // SAFETY: raising a signal on ourselves; the stop path drains like SIGTERM.
    unsafe {
        libc::raise(libc::SIGTERM);
    }
    Ok(JsValue::undefined())
}

fn pipy_restart(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    // SAFETY: the master reloads on SIGHUP; in a worker the parent gets it.
    unsafe {
        libc::kill(libc::getppid(), libc::SIGHUP);
    }
    Ok(JsValue::undefined())
}

/// Text of a value as console.log prints it (objects as JSON).
pub fn display_value(v: &JsValue, ctx: &mut Context) -> String {
    if let Some(s) = v.as_string() {
        return s.to_std_string_escaped();
    }
    if let Some(o) = v.as_object() {
        if let Some(d) = o.downcast_ref::<super::message::JsDataObj>() {
            return d.data.to_string_lossy();
        }
        if !o.is_callable() {
            let json = ctx.global_object().get(js_string!("JSON"), ctx).ok();
            if let Some(stringify) = json
                .as_ref()
                .and_then(|j| j.as_object())
                .and_then(|j| j.get(js_string!("stringify"), ctx).ok())
                .and_then(|f| f.as_callable())
                && let Ok(s) = stringify.call(&JsValue::undefined(), std::slice::from_ref(v), ctx)
                && let Some(s) = s.as_string()
            {
                return s.to_std_string_escaped();
            }
        }
    }
    v.to_string(ctx)
        .map(|s| s.to_std_string_escaped())
        .unwrap_or_default()
}

fn console_out(args: &[JsValue], ctx: &mut Context, level: log::Level) -> JsResult<JsValue> {
    let text: Vec<String> = args.iter().map(|a| display_value(a, ctx)).collect();
    let text = text.join(" ");
    for line in text.lines() {
        log::log!(level, "{line}");
    }
    Ok(JsValue::undefined())
}

fn os_read_file(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let p = args
        .get_or_undefined(0)
        .to_string(ctx)?
        .to_std_string_escaped();
    match std::fs::read(&p) {
        Ok(b) => data_to_js(b.into(), ctx),
        Err(_) => Ok(JsValue::null()),
    }
}

fn os_write_file(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let p = args
        .get_or_undefined(0)
        .to_string(ctx)?
        .to_std_string_escaped();
    let d = to_data(args.get_or_undefined(1), ctx)?.unwrap_or_default();
    std::fs::write(&p, d.to_vec())
        .map_err(|e| JsNativeError::error().with_message(format!("writeFile {p}: {e}")))?;
    Ok(JsValue::undefined())
}

/// `JSON.parse(text)`, undefined when `text` is not JSON.
fn json_parse(text: JsValue, ctx: &mut Context) -> JsResult<JsValue> {
    let json = ctx.global_object().get(js_string!("JSON"), ctx)?;
    let parse = json
        .as_object()
        .map(|j| j.get(js_string!("parse"), ctx))
        .transpose()?
        .and_then(|f| f.as_callable());
    let Some(parse) = parse else {
        return Ok(JsValue::undefined());
    };
    match parse.call(&JsValue::undefined(), &[text], ctx) {
        Ok(v) => Ok(v),
        Err(_) => Ok(JsValue::undefined()),
    }
}

fn json_decode(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let Some(d) = to_data(args.get_or_undefined(0), ctx)? else {
        return Ok(JsValue::undefined());
    };
    json_parse(super::head::jstr(&d.to_bytes()), ctx)
}

fn json_encode(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let json = ctx.global_object().get(js_string!("JSON"), ctx)?;
    let stringify = json
        .as_object()
        .map(|j| j.get(js_string!("stringify"), ctx))
        .transpose()?
        .and_then(|f| f.as_callable())
        .ok_or_else(|| JsNativeError::typ().with_message("JSON.stringify missing"))?;
    let s = stringify.call(&JsValue::undefined(), args, ctx)?;
    if s.is_undefined() {
        return Ok(JsValue::undefined());
    }
    data_to_js(Data::from(utf8_bytes(&s.to_string(ctx)?)), ctx)
}

fn inbound_getter(_: &JsValue, _: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let info = context::with_current(|c| c.and_then(|c| c.inbound.clone()));
    let Some(info) = info else {
        return Ok(JsValue::null());
    };
    if let Some(v) = info.js.get() {
        return Ok(v.clone());
    }
    let o = JsObject::with_object_proto(ctx.intrinsics());
    o.set(js_string!("id"), info.id as f64, false, ctx)?;
    o.set(
        js_string!("remoteAddress"),
        JsString::from(info.remote.ip().to_string().as_str()),
        false,
        ctx,
    )?;
    o.set(
        js_string!("remotePort"),
        info.remote.port() as i32,
        false,
        ctx,
    )?;
    o.set(
        js_string!("localAddress"),
        JsString::from(info.local.ip().to_string().as_str()),
        false,
        ctx,
    )?;
    o.set(
        js_string!("localPort"),
        info.local.port() as i32,
        false,
        ctx,
    )?;
    o.set(js_string!("destinationAddress"), js_string!(""), false, ctx)?;
    o.set(js_string!("destinationPort"), 0, false, ctx)?;
    let v: JsValue = o.into();
    Ok(info.js.get_or_init(|| v).clone())
}
