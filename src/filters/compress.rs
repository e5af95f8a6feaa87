//! Body compression filters: `decompressHTTP`, `compressHTTP` and `compressMessage`.
//!
//! Bodies are transcoded chunk by chunk as they pass (flate2's `write` adapters feeding a `Vec`
//! per chunk), so a body is never buffered whole: memory stays at the codec's window.

use super::{Callback, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory};
use crate::engine::head::{Head, HeadKind};
use crate::js::message::event_to_js;
use boa_engine::{Context, JsString, JsValue, js_string};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder, ZlibEncoder};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// RFC 9110 §8.4: the header naming the content codings applied to a body.
const CONTENT_ENCODING: &str = "content-encoding";
/// RFC 9110 §8.6: stale once a body is recompressed.
const CONTENT_LENGTH: &str = "content-length";

/// Set once the "brotli is not supported" warning has been logged (once per process).
static BROTLI_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_brotli_once(what: &str) {
    if !BROTLI_WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("[compress] {what}: brotli is not supported, bodies pass through unchanged");
    }
}

// ------------------------------------------------------------------- codecs

/// A content coding a compressor produces (RFC 9110 §8.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as HTTP defines it.
    Deflate,
}

impl Method {
    /// The `content-encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Method::Gzip => "gzip",
            Method::Deflate => "deflate",
        }
    }
}

/// A streaming body transcoder: bytes in, transformed bytes out, chunk by chunk.
pub enum BodyCodec {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
    Gunzip(GzDecoder<Vec<u8>>),
}

impl BodyCodec {
    /// A compressor for `method` at `level`.
    pub fn compressor(method: Method, level: Compression) -> BodyCodec {
        match method {
            Method::Gzip => BodyCodec::Gzip(GzEncoder::new(Vec::new(), level)),
            Method::Deflate => BodyCodec::Deflate(ZlibEncoder::new(Vec::new(), level)),
        }
    }

    /// A gzip decompressor (one gzip member; bytes after its trailer are ignored, as in Pipy).
    pub fn gunzip() -> BodyCodec {
        BodyCodec::Gunzip(GzDecoder::new(Vec::new()))
    }

    /// Feeds one chunk and returns what the codec produced so far (often nothing for small
    /// chunks while compressing).
    pub fn push(&mut self, chunk: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            BodyCodec::Gzip(w) => {
                w.write_all(chunk)?;
                Ok(std::mem::take(w.get_mut()))
            }
            BodyCodec::Deflate(w) => {
                w.write_all(chunk)?;
                Ok(std::mem::take(w.get_mut()))
            }
            BodyCodec::Gunzip(w) => {
                let mut rest = chunk;
                while !rest.is_empty() {
                    // 0 means the gzip member has ended: trailing bytes are dropped.
                    match w.write(rest)? {
                        0 => break,
                        n => rest = &rest[n..],
                    }
                }
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }

    /// Ends the stream and returns the remaining output (the compressor's trailer).
    pub fn finish(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            BodyCodec::Gzip(w) => {
                w.try_finish()?;
                Ok(std::mem::take(w.get_mut()))
            }
            BodyCodec::Deflate(w) => {
                w.try_finish()?;
                Ok(std::mem::take(w.get_mut()))
            }
            BodyCodec::Gunzip(w) => {
                w.try_finish()?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }
}

// ------------------------------------------------------------------- head access

/// The `headers` object of a script head, if it has one.
fn script_headers(v: &JsValue, ctx: &mut Context) -> Option<boa_engine::JsObject> {
    let o = v.as_object()?;
    o.get(js_string!("headers"), ctx).ok()?.as_object()
}

/// The `content-encoding` of a head (native or script), if any.
pub fn content_encoding(head: &Head, ctx: &mut Context) -> Option<String> {
    let script = match &*head.get() {
        HeadKind::Request(r) => return header_text(r.headers.get(CONTENT_ENCODING.as_bytes())),
        HeadKind::Response(r) => return header_text(r.headers.get(CONTENT_ENCODING.as_bytes())),
        HeadKind::Null => return None,
        HeadKind::Script(v) => v.clone(),
    };
    let headers = script_headers(&script, ctx)?;
    let v = headers.get(JsString::from(CONTENT_ENCODING), ctx).ok()?;
    v.as_string().map(|s| s.to_std_string_escaped())
}

fn header_text(v: Option<&Bytes>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Labels a head's body as encoded with `token` and drops its now wrong `content-length`.
/// Returns false when the head has no headers to label (then the body must stay as it is).
fn label_encoded(head: &Head, token: &'static str, ctx: &mut Context) -> bool {
    let script = match &mut *head.get_mut() {
        HeadKind::Request(r) => {
            relabel_native(&mut r.headers, token);
            return true;
        }
        HeadKind::Response(r) => {
            relabel_native(&mut r.headers, token);
            return true;
        }
        HeadKind::Null => return false,
        HeadKind::Script(v) => v.clone(),
    };
    let Some(headers) = script_headers(&script, ctx) else {
        return false;
    };
    let set = headers.set(
        JsString::from(CONTENT_ENCODING),
        JsString::from(token),
        false,
        ctx,
    );
    let _ = headers.delete_property_or_throw(JsString::from(CONTENT_LENGTH), ctx);
    set.is_ok()
}

fn relabel_native(h: &mut crate::http::head::Headers, token: &'static str) {
    h.set(
        Bytes::from_static(CONTENT_ENCODING.as_bytes()),
        Bytes::from_static(token.as_bytes()),
    );
    h.remove(CONTENT_LENGTH.as_bytes());
}

// ------------------------------------------------------------------- shared filter body

/// Whether a filter transcodes a message: always, never, or as a script function says.
#[derive(Clone)]
enum Enable {
    Always,
    Never,
    Func(Callback),
}

impl Enable {
    fn from_arg(v: &JsValue, f: Option<Callback>) -> Enable {
        match f {
            Some(cb) => Enable::Func(cb),
            None if v.is_undefined() || v.to_boolean() => Enable::Always,
            None => Enable::Never,
        }
    }

    /// `Err` when the script threw.
    fn decide(&self, start: &Event, cx: &mut Cx) -> Result<bool, ()> {
        match self {
            Enable::Always => Ok(true),
            Enable::Never => Ok(false),
            Enable::Func(cb) => cb
                .call_with(cx, |ctx| Ok(vec![event_to_js(start, ctx)?]))
                .map(|v| v.to_boolean()),
        }
    }
}

/// Where a filter is in the current message.
enum Body {
    /// Not in a message, or in one that passes unchanged.
    Passing,
    /// Transcoding this message's body; `wrote` says whether any input byte went in.
    Coding { codec: Box<BodyCodec>, wrote: bool },
    /// The codec failed: the rest of this body is dropped.
    Broken,
}

/// What a filter does to a message, decided at its MessageStart.
trait Plan {
    fn name(&self) -> &'static str;
    /// A codec for this message, or None to let it pass. `Err` when a script threw.
    fn codec_for(&self, start: &Event, head: &Head, cx: &mut Cx) -> Result<Option<BodyCodec>, ()>;
}

struct CodingFilter<P: Plan> {
    plan: P,
    body: Body,
}

impl<P: Plan> CodingFilter<P> {
    fn new(plan: P) -> CodingFilter<P> {
        CodingFilter {
            plan,
            body: Body::Passing,
        }
    }

    fn data(&mut self, d: Data, cx: &mut Cx) {
        let Body::Coding { codec, wrote } = &mut self.body else {
            if matches!(self.body, Body::Passing) {
                cx.output(Event::Data(d));
            }
            return;
        };
        if d.is_empty() {
            cx.output(Event::Data(d));
            return;
        }
        *wrote = true;
        let mut out = Data::new();
        for chunk in d.chunks() {
            match codec.push(chunk) {
                Ok(bytes) => out.push_bytes(Bytes::from(bytes)),
                Err(e) => {
                    log::warn!("[{}] body dropped: {e}", self.plan.name());
                    self.body = Body::Broken;
                    break;
                }
            }
        }
        if !out.is_empty() {
            cx.output(Event::Data(out));
        }
    }

    fn end(&mut self, cx: &mut Cx) {
        if let Body::Coding { codec, wrote } = &mut self.body
            && *wrote
        {
            match codec.finish() {
                Ok(rest) if !rest.is_empty() => cx.output(Event::Data(Data::from(rest))),
                Ok(_) => {}
                Err(e) => log::warn!("[{}] body truncated: {e}", self.plan.name()),
            }
        }
        self.body = Body::Passing;
    }
}

impl<P: Plan> Filter for CodingFilter<P> {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match ev {
            Event::MessageStart(ref head) => {
                let head = head.clone();
                self.body = match self.plan.codec_for(&ev, &head, cx) {
                    Ok(Some(codec)) => Body::Coding {
                        codec: Box::new(codec),
                        wrote: false,
                    },
                    Ok(None) => Body::Passing,
                    Err(()) => {
                        cx.output(Event::StreamEnd(StreamError::RuntimeError));
                        return;
                    }
                };
                cx.output(ev);
            }
            Event::Data(d) => self.data(d, cx),
            Event::MessageEnd => {
                self.end(cx);
                cx.output(Event::MessageEnd);
            }
            Event::StreamEnd(_) => {
                self.body = Body::Passing;
                cx.output(ev);
            }
        }
    }
}

// ------------------------------------------------------------------- decompressHTTP

/// `decompressHTTP(enable?)`: gunzips bodies whose `content-encoding` is exactly `gzip`; the
/// header is left unchanged, as in Pipy. `enable` is a boolean or `fn(MessageStart) → bool`,
/// asked only for gzip bodies. Bodies encoded `br` pass through unchanged (brotli is not
/// implemented; a warning is logged once per process); other codings pass through too.
pub fn build_decompress_http(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(DecompressFactory {
        enable: Enable::from_arg(&a.arg(0), a.callback(0)),
    }))
}

struct DecompressFactory {
    enable: Enable,
}

impl FilterFactory for DecompressFactory {
    fn name(&self) -> &'static str {
        "decompressHTTP"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(CodingFilter::new(DecompressPlan {
            enable: self.enable.clone(),
        }))
    }
}

struct DecompressPlan {
    enable: Enable,
}

impl Plan for DecompressPlan {
    fn name(&self) -> &'static str {
        "decompressHTTP"
    }

    fn codec_for(&self, start: &Event, head: &Head, cx: &mut Cx) -> Result<Option<BodyCodec>, ()> {
        match content_encoding(head, cx.core.js.ctx()).as_deref() {
            Some("gzip") => {}
            Some("br") => {
                warn_brotli_once("decompressHTTP");
                return Ok(None);
            }
            _ => return Ok(None),
        }
        Ok(self.enable.decide(start, cx)?.then(BodyCodec::gunzip))
    }
}

// ------------------------------------------------------------------- compressHTTP / compressMessage

/// Parsed `{enabled, method, level}` of `compressHTTP`/`compressMessage`.
enum CompressMethod {
    Flate(Method),
    /// Not implemented: bodies pass through unchanged.
    Brotli,
}

fn parse_method(name: &str) -> Result<CompressMethod, String> {
    match name {
        "gzip" => Ok(CompressMethod::Flate(Method::Gzip)),
        "deflate" => Ok(CompressMethod::Flate(Method::Deflate)),
        "brotli" => Ok(CompressMethod::Brotli),
        _ => Err(format!(
            "invalid options.method '{name}': expects one of deflate | gzip | brotli"
        )),
    }
}

/// `level`: Pipy's names (`default`, `none`, `speed`, `best`) or a zlib level 0..=9.
fn parse_level(v: &JsValue, ctx: &mut Context) -> Result<Compression, String> {
    if v.is_undefined() {
        return Ok(Compression::default());
    }
    if let Some(n) = v.as_number() {
        return if (0.0..=9.0).contains(&n) && n.fract() == 0.0 {
            Ok(Compression::new(n as u32))
        } else {
            Err(format!("invalid options.level {n}: expects 0 to 9"))
        };
    }
    let name = v
        .to_string(ctx)
        .map_err(|e| e.to_string())?
        .to_std_string_escaped();
    match name.as_str() {
        "default" => Ok(Compression::default()),
        "none" => Ok(Compression::none()),
        "speed" => Ok(Compression::fast()),
        "best" => Ok(Compression::best()),
        _ => Err(format!(
            "invalid options.level '{name}': expects one of default | none | speed | best"
        )),
    }
}

fn build_compress(
    name: &'static str,
    a: &mut FilterArgs,
) -> Result<Box<dyn FilterFactory>, String> {
    let enabled = a.option(0, "enabled")?;
    let enabled_fn = crate::js::config::as_function(&enabled)
        .map(|f| Callback::new(f, a.module, &a.location, a.ctx));
    let enable = Enable::from_arg(&enabled, enabled_fn);
    let method_v = a.option(0, "method")?;
    let method = if method_v.is_undefined() {
        CompressMethod::Flate(Method::Gzip)
    } else {
        let s = method_v
            .to_string(a.ctx)
            .map_err(|e| e.to_string())?
            .to_std_string_escaped();
        parse_method(&s)?
    };
    let level_v = a.option(0, "level")?;
    let level = parse_level(&level_v, a.ctx)?;
    let method = match method {
        CompressMethod::Flate(m) => Some(m),
        CompressMethod::Brotli => {
            log::warn!(
                "[{name}] {}: brotli is not supported, bodies pass through",
                a.location
            );
            None
        }
    };
    Ok(Box::new(CompressFactory {
        name,
        enable,
        method,
        level,
    }))
}

/// `compressHTTP(opts?)`: compresses bodies (`{enabled = true, method = 'gzip' | 'deflate',
/// level}`) and sets `content-encoding` to the method; `enabled` may also be
/// `fn(MessageStart) → bool`. Unlike Pipy, a body that already has a `content-encoding` (other
/// than `identity`) is left alone rather than encoded twice, and an empty body stays empty.
/// `method: 'brotli'` is not implemented: a warning is logged and bodies pass through.
pub fn build_compress_http(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build_compress("compressHTTP", a)
}

/// `compressMessage(opts?)`: the same as `compressHTTP`.
pub fn build_compress_message(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    build_compress("compressMessage", a)
}

struct CompressFactory {
    name: &'static str,
    enable: Enable,
    /// None: brotli was asked for and everything passes.
    method: Option<Method>,
    level: Compression,
}

impl FilterFactory for CompressFactory {
    fn name(&self) -> &'static str {
        self.name
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(CodingFilter::new(CompressPlan {
            name: self.name,
            enable: self.enable.clone(),
            method: self.method,
            level: self.level,
        }))
    }
    fn detail(&self) -> String {
        self.method
            .map(|m| m.token().to_string())
            .unwrap_or_default()
    }
}

struct CompressPlan {
    name: &'static str,
    enable: Enable,
    method: Option<Method>,
    level: Compression,
}

impl Plan for CompressPlan {
    fn name(&self) -> &'static str {
        self.name
    }

    fn codec_for(&self, start: &Event, head: &Head, cx: &mut Cx) -> Result<Option<BodyCodec>, ()> {
        let Some(method) = self.method else {
            return Ok(None);
        };
        if matches!(&*head.get(), HeadKind::Null) {
            return Ok(None);
        }
        let ctx = cx.core.js.ctx();
        if content_encoding(head, ctx).is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
            return Ok(None);
        }
        if !self.enable.decide(start, cx)? {
            return Ok(None);
        }
        if !label_encoded(head, method.token(), cx.core.js.ctx()) {
            return Ok(None);
        }
        Ok(Some(BodyCodec::compressor(method, self.level)))
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "decompressHTTP",
        "enable?: bool | (MessageStart) => bool",
        "Decompresses gzip-encoded HTTP bodies (content-encoding left as is)",
        build_decompress_http
    ),
    (
        "compressHTTP",
        "options?: {enabled, method: 'gzip'|'deflate', level}",
        "Compresses HTTP bodies and sets content-encoding",
        build_compress_http
    ),
    (
        "compressMessage",
        "options?: {enabled, method: 'gzip'|'deflate', level}",
        "Compresses message bodies and sets content-encoding",
        build_compress_message
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{Headers, ResponseHead, Version};
    use flate2::read::{GzDecoder as GzRead, ZlibDecoder as ZlibRead};
    use std::io::Read;

    fn run(codec: &mut BodyCodec, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            out.extend(codec.push(piece).unwrap_or_else(|e| panic!("push: {e}")));
        }
        out.extend(codec.finish().unwrap_or_else(|e| panic!("finish: {e}")));
        out
    }

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn gzip_round_trip_in_small_chunks() {
        let body = sample();
        let gz = run(
            &mut BodyCodec::compressor(Method::Gzip, Compression::fast()),
            &body,
            777,
        );
        assert!(gz.len() < body.len());
        let mut plain = Vec::new();
        GzRead::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap_or_default();
        assert_eq!(plain, body);
        // Our own decoder, fed one byte at a time (split gzip header and trailer).
        assert_eq!(run(&mut BodyCodec::gunzip(), &gz, 1), body);
    }

    #[test]
    fn deflate_is_zlib_wrapped() {
        let body = b"hello hello hello hello".to_vec();
        let z = run(
            &mut BodyCodec::compressor(Method::Deflate, Compression::best()),
            &body,
            5,
        );
        assert_eq!(z[0] & 0x0f, 8, "zlib header: deflate method");
        let mut plain = Vec::new();
        ZlibRead::new(&z[..])
            .read_to_end(&mut plain)
            .unwrap_or_default();
        assert_eq!(plain, body);
    }

    #[test]
    fn gunzip_ignores_bytes_after_the_member_and_rejects_garbage() {
        let gz = run(
            &mut BodyCodec::compressor(Method::Gzip, Compression::default()),
            b"abc",
            3,
        );
        let mut with_tail = gz.clone();
        with_tail.extend_from_slice(b"trailing junk");
        assert_eq!(run(&mut BodyCodec::gunzip(), &with_tail, 4), b"abc");
        let mut bad = BodyCodec::gunzip();
        assert!(bad.push(b"definitely not gzip data").is_err());
    }

    #[test]
    fn level_and_method_names() {
        let mut ctx = Context::default();
        let level = |v: JsValue, ctx: &mut Context| parse_level(&v, ctx).map(|c| c.level());
        assert_eq!(level(JsValue::undefined(), &mut ctx), Ok(6));
        assert_eq!(level(JsString::from("none").into(), &mut ctx), Ok(0));
        assert_eq!(level(JsString::from("speed").into(), &mut ctx), Ok(1));
        assert_eq!(level(JsString::from("best").into(), &mut ctx), Ok(9));
        assert_eq!(level(JsValue::from(3), &mut ctx), Ok(3));
        assert!(level(JsString::from("max").into(), &mut ctx).is_err());
        assert!(level(JsValue::from(12), &mut ctx).is_err());
        assert!(matches!(
            parse_method("deflate"),
            Ok(CompressMethod::Flate(Method::Deflate))
        ));
        assert!(matches!(parse_method("brotli"), Ok(CompressMethod::Brotli)));
        assert!(parse_method("zstd").is_err());
    }

    #[test]
    fn reads_and_labels_native_and_script_heads() {
        let mut ctx = Context::default();
        let mut headers = Headers::new();
        headers.append(
            Bytes::from_static(b"Content-Encoding"),
            Bytes::from_static(b"gzip"),
        );
        headers.append(
            Bytes::from_static(b"content-length"),
            Bytes::from_static(b"10"),
        );
        let native = Head::response(ResponseHead {
            version: Version::Http11,
            status: 200,
            reason: Bytes::new(),
            headers,
        });
        assert_eq!(content_encoding(&native, &mut ctx).as_deref(), Some("gzip"));
        assert!(label_encoded(&native, "deflate", &mut ctx));
        assert_eq!(
            content_encoding(&native, &mut ctx).as_deref(),
            Some("deflate")
        );
        let HeadKind::Response(r) = &*native.get() else {
            panic!("a native head stays native when relabelled");
        };
        assert!(!r.headers.contains(b"content-length"));

        let obj = ctx
            .eval(boa_engine::Source::from_bytes(
                "({headers: {'content-encoding': 'br', 'content-length': '3'}})",
            ))
            .unwrap_or_default();
        let script = Head::script(obj.clone());
        assert_eq!(content_encoding(&script, &mut ctx).as_deref(), Some("br"));
        assert!(label_encoded(&script, "gzip", &mut ctx));
        assert_eq!(content_encoding(&script, &mut ctx).as_deref(), Some("gzip"));
        let global = ctx.global_object();
        global
            .set(js_string!("h"), obj, false, &mut ctx)
            .unwrap_or_default();
        let gone = ctx
            .eval(boa_engine::Source::from_bytes(
                "!('content-length' in h.headers)",
            ))
            .unwrap_or_default();
        assert!(gone.to_boolean());

        let bare = ctx
            .eval(boa_engine::Source::from_bytes("({status: 200})"))
            .unwrap_or_default();
        assert!(!label_encoded(&Head::script(bare), "gzip", &mut ctx));
        assert!(!label_encoded(&Head::null(), "gzip", &mut ctx));
    }
}
