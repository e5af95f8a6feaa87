//! Stand-alone HTTP codecs: `decodeHTTPRequest`, `encodeHTTPResponse`, `decodeHTTPResponse`,
//! `encodeHTTPRequest`.

use super::{Dynamic, FilterArgs};
use crate::engine::data::Data;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::{Cx, Filter, FilterFactory};
use crate::engine::head::Head;
use crate::http::decoder::{Decoded, MessageDecoder, Side};
use crate::http::encoder::{DEFAULT_BUFFER_SIZE, MessageEncoder, OutHead};
use crate::http::head::{Headers, ResponseHead, Version};
use bytes::Bytes;

/// Events for what the decoder found.
pub fn decoded_to_event(d: Decoded) -> Event {
    match d {
        Decoded::Request(h, _) => Event::MessageStart(Head::request(h)),
        Decoded::Response(h) => Event::MessageStart(Head::response(h)),
        Decoded::Body(b) => Event::Data(b),
        Decoded::End => Event::MessageEnd,
    }
}

/// A response head standing for an upstream failure (reference §3.8).
pub fn gateway_error_head(err: StreamError) -> ResponseHead {
    let (status, reason) = err.gateway_status();
    ResponseHead {
        version: Version::Http11,
        status,
        reason: Bytes::from_static(reason.as_bytes()),
        headers: Headers::new(),
    }
}

/// The `bufferSize` option of argument `i`: bodies up to it are sent with a content-length.
pub fn buffer_size(a: &mut FilterArgs, i: usize) -> Result<usize, String> {
    Ok(a.size_option(i, "bufferSize")?
        .unwrap_or(DEFAULT_BUFFER_SIZE))
}

// ------------------------------------------------------------------ decoders

pub fn build_decode_request(_: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(DecoderFactory {
        side: Side::Request,
    }))
}

pub fn build_decode_response(_: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(DecoderFactory {
        side: Side::Response,
    }))
}

struct DecoderFactory {
    side: Side,
}

impl FilterFactory for DecoderFactory {
    fn name(&self) -> &'static str {
        match self.side {
            Side::Request => "decodeHTTPRequest",
            Side::Response => "decodeHTTPResponse",
        }
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Decoder {
            dec: MessageDecoder::new(self.side),
            side: self.side,
            seen_head: false,
        })
    }
}

struct Decoder {
    dec: MessageDecoder,
    side: Side,
    seen_head: bool,
}

impl Filter for Decoder {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match ev {
            Event::Data(d) => {
                let seen_head = &mut self.seen_head;
                let result = self.dec.feed_data(d, &mut |x| {
                    *seen_head |= matches!(x, Decoded::Request(..) | Decoded::Response(_));
                    cx.output(decoded_to_event(x));
                });
                if let Err(e) = result {
                    log::warn!("HTTP decode error: {e}");
                    cx.output(Event::StreamEnd(StreamError::ReadError));
                }
            }
            Event::StreamEnd(err) => {
                let _ = self.dec.eof(&mut |x| cx.output(decoded_to_event(x)));
                if self.side == Side::Response && err != StreamError::None && !self.seen_head {
                    cx.output(Event::MessageStart(Head::response(gateway_error_head(err))));
                }
                cx.output(Event::StreamEnd(err));
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ encoders

pub fn build_encode_response(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let final_ = match a.option(0, "final")? {
        v if v.is_undefined() => None,
        _ => Some(Dynamic::from_arg_option(a, 0, "final")?),
    };
    let bodiless = match a.option(0, "bodiless")? {
        v if v.is_undefined() => None,
        _ => Some(Dynamic::from_arg_option(a, 0, "bodiless")?),
    };
    Ok(Box::new(EncoderFactory {
        response: true,
        buffer_size: buffer_size(a, 0)?,
        final_,
        bodiless,
    }))
}

pub fn build_encode_request(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(EncoderFactory {
        response: false,
        buffer_size: buffer_size(a, 0)?,
        final_: None,
        bodiless: None,
    }))
}

struct EncoderFactory {
    response: bool,
    buffer_size: usize,
    final_: Option<Dynamic>,
    bodiless: Option<Dynamic>,
}

impl FilterFactory for EncoderFactory {
    fn name(&self) -> &'static str {
        if self.response {
            "encodeHTTPResponse"
        } else {
            "encodeHTTPRequest"
        }
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Encoder {
            response: self.response,
            enc: MessageEncoder::new(self.buffer_size),
            final_: self.final_.clone(),
            bodiless: self.bodiless.clone(),
            is_final: false,
        })
    }
}

struct Encoder {
    response: bool,
    enc: MessageEncoder,
    final_: Option<Dynamic>,
    bodiless: Option<Dynamic>,
    is_final: bool,
}

impl Filter for Encoder {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        let mut out = Data::new();
        match ev {
            Event::MessageStart(h) => {
                let flag = |d: &Option<Dynamic>, cx: &mut Cx| {
                    d.as_ref()
                        .and_then(|d| d.eval(cx).ok())
                        .is_some_and(|v| v.to_boolean())
                };
                self.is_final = flag(&self.final_, cx);
                let bodiless = flag(&self.bodiless, cx);
                let head = if self.response {
                    match crate::js::head::response_of(h, &mut cx.core.js) {
                        Ok(r) => OutHead::Response(r),
                        Err(e) => {
                            log::error!("[pjs] bad response head: {e}");
                            return;
                        }
                    }
                } else {
                    match crate::js::head::request_of(h, &mut cx.core.js) {
                        Ok(r) => OutHead::Request(r),
                        Err(e) => {
                            log::error!("[pjs] bad request head: {e}");
                            return;
                        }
                    }
                };
                self.enc.start(head, !self.is_final, bodiless, &mut out);
            }
            Event::Data(d) => self.enc.body(d, &mut out),
            Event::MessageEnd => {
                self.enc.end(&mut out);
                if !out.is_empty() {
                    cx.output(Event::Data(out));
                }
                if self.is_final {
                    cx.output(Event::StreamEnd(StreamError::None));
                }
                return;
            }
            Event::StreamEnd(e) => {
                if self.enc.in_message() {
                    self.enc.end(&mut out);
                    cx.output(Event::Data(out));
                }
                cx.output(Event::StreamEnd(e));
                return;
            }
        }
        if !out.is_empty() {
            cx.output(Event::Data(out));
        }
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "decodeHTTPRequest",
        "",
        "Decodes bytes into HTTP request messages",
        build_decode_request
    ),
    (
        "encodeHTTPResponse",
        "options?: {final, bodiless, bufferSize}",
        "Encodes response messages into bytes",
        build_encode_response
    ),
    (
        "decodeHTTPResponse",
        "options?: {bodiless}",
        "Decodes bytes into HTTP response messages",
        build_decode_response
    ),
    (
        "encodeHTTPRequest",
        "options?: {bufferSize}",
        "Encodes request messages into bytes",
        build_encode_request
    ),
];
