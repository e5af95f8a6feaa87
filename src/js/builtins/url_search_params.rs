//! `URLSearchParams(string | object)`: query parameters with repeated keys collected into
//! arrays. Percent-decoding and -encoding follow Pipy: `+` is left as is, and everything
//! but RFC 3986 section 2.3 unreserved characters is encoded.

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, Trace};

use crate::js::builtins::helpers::{
    add_methods, array_elements, own_entries, push_js_str, type_error, with_this,
};

/// The value(s) of one parameter.
#[derive(Trace, Finalize, Clone)]
enum ParamValue {
    One(JsString),
    Many(Vec<JsString>),
}

/// Native data of a `URLSearchParams` instance: parameters in first-seen order.
#[derive(Trace, Finalize, JsData, Default)]
pub struct UrlSearchParams {
    params: Vec<(JsString, ParamValue)>,
}

/// Decodes `%XX` escapes (as bytes, then UTF-8 with replacement); malformed escapes are kept.
pub fn decode_uri_component(text: &str) -> String {
    let bytes = text.as_bytes();
    if !bytes.contains(&b'%') {
        return text.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `b` is an RFC 3986 section 2.3 unreserved character.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `text` with every byte outside the unreserved set percent-encoded (upper hex).
pub fn encode_uri_component(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

impl UrlSearchParams {
    /// Parses `a=1&b=2&a=3` (a leading `?` is skipped).
    pub fn parse(search: &str) -> Self {
        let mut params = Self::default();
        let search = search.strip_prefix('?').unwrap_or(search);
        for pair in search.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.append(
                JsString::from(decode_uri_component(name)),
                JsString::from(decode_uri_component(value)),
            );
        }
        params
    }

    fn position(&self, name: &JsString) -> Option<usize> {
        self.params.iter().position(|(k, _)| k == name)
    }

    /// Adds a value, turning a single value into an array on repetition.
    pub fn append(&mut self, name: JsString, value: JsString) {
        match self.position(&name) {
            Some(i) => {
                let slot = &mut self.params[i].1;
                match slot {
                    ParamValue::Many(list) => list.push(value),
                    ParamValue::One(first) => {
                        *slot = ParamValue::Many(vec![first.clone(), value]);
                    }
                }
            }
            None => self.params.push((name, ParamValue::One(value))),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &JsString) -> Option<&JsString> {
        match &self.params[self.position(name)?].1 {
            ParamValue::One(v) => Some(v),
            ParamValue::Many(list) => list.first(),
        }
    }

    fn all(&self, name: &JsString) -> Vec<JsString> {
        match self.position(name).map(|i| &self.params[i].1) {
            Some(ParamValue::One(v)) => vec![v.clone()],
            Some(ParamValue::Many(list)) => list.clone(),
            None => Vec::new(),
        }
    }

    /// Replaces (`Some`) or deletes (`None`) a parameter.
    fn put(&mut self, name: JsString, value: Option<ParamValue>) {
        let at = self.position(&name);
        match (at, value) {
            (Some(i), Some(v)) => self.params[i].1 = v,
            (None, Some(v)) => self.params.push((name, v)),
            (Some(i), None) => {
                self.params.remove(i);
            }
            (None, None) => {}
        }
    }

    /// Serialises as `k=v&k=v2` with percent-encoding.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let mut name_buf = String::new();
        let mut value_buf = String::new();
        for (name, value) in &self.params {
            name_buf.clear();
            push_js_str(&mut name_buf, name);
            let values: &[JsString] = match value {
                ParamValue::One(v) => std::slice::from_ref(v),
                ParamValue::Many(list) => list,
            };
            for v in values {
                if !out.is_empty() {
                    out.push('&');
                }
                encode_uri_component(&name_buf, &mut out);
                out.push('=');
                value_buf.clear();
                push_js_str(&mut value_buf, v);
                encode_uri_component(&value_buf, &mut out);
            }
        }
        out
    }

    fn set_from_value(
        &mut self,
        name: JsString,
        value: &JsValue,
        ctx: &mut Context,
    ) -> JsResult<()> {
        if value.is_null_or_undefined() {
            self.put(name, None);
            return Ok(());
        }
        let converted = match value.as_object().filter(JsObject::is_array) {
            Some(array) => {
                let mut list = Vec::new();
                for v in array_elements(&array, ctx)? {
                    list.push(v.to_string(ctx)?);
                }
                ParamValue::Many(list)
            }
            None => ParamValue::One(value.to_string(ctx)?),
        };
        self.put(name, Some(converted));
        Ok(())
    }
}

/// Creates a script-visible `URLSearchParams` object from parsed data.
pub fn new_object(params: UrlSearchParams, ctx: &mut Context) -> JsResult<JsObject> {
    UrlSearchParams::from_data(params, ctx)
}

fn string_array(items: Vec<JsString>, ctx: &mut Context) -> JsValue {
    JsArray::from_iter(items.into_iter().map(JsValue::from), ctx).into()
}

fn name_arg(args: &[JsValue], ctx: &mut Context) -> JsResult<JsString> {
    args.first().cloned().unwrap_or_default().to_string(ctx)
}

fn params_get(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = name_arg(args, ctx)?;
    let found =
        with_this::<UrlSearchParams, _>(this, "URLSearchParams", "get", |p| p.get(&name).cloned())?;
    Ok(found.map_or_else(JsValue::null, JsValue::from))
}

fn params_get_all(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = name_arg(args, ctx)?;
    let all = with_this::<UrlSearchParams, _>(this, "URLSearchParams", "getAll", |p| p.all(&name))?;
    Ok(string_array(all, ctx))
}

fn params_set(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let name = name_arg(args, ctx)?;
    let value = args.get(1).cloned().unwrap_or_default();
    // Convert first (may run script code), then store.
    let mut staged = UrlSearchParams::default();
    staged.set_from_value(name.clone(), &value, ctx)?;
    let converted = staged.params.pop().map(|(_, v)| v);
    with_this::<UrlSearchParams, _>(this, "URLSearchParams", "set", |p| p.put(name, converted))?;
    Ok(JsValue::undefined())
}

fn params_to_object(this: &JsValue, _args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let params =
        with_this::<UrlSearchParams, _>(this, "URLSearchParams", "toObject", |p| p.params.clone())?;
    let object = JsObject::with_object_proto(ctx.intrinsics());
    for (name, value) in params {
        let v = match &value {
            ParamValue::One(s) => JsValue::from(s.clone()),
            ParamValue::Many(list) => string_array(list.clone(), ctx),
        };
        object.create_data_property_or_throw(name, v, ctx)?;
    }
    Ok(object.into())
}

fn params_to_string(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let text = with_this::<UrlSearchParams, _>(this, "URLSearchParams", "toString", |p| {
        p.to_query_string()
    })?;
    Ok(JsString::from(text).into())
}

impl Class for UrlSearchParams {
    const NAME: &'static str = "URLSearchParams";
    const LENGTH: usize = 1;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(
            class,
            &[
                ("get", 1, params_get),
                ("getAll", 1, params_get_all),
                ("set", 2, params_set),
                ("toObject", 0, params_to_object),
                ("toString", 0, params_to_string),
            ],
        );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let init = args.first().cloned().unwrap_or_default();
        if let Some(s) = init.as_string() {
            return Ok(Self::parse(&s.to_std_string_lossy()));
        }
        if init.is_undefined() {
            return Ok(Self::default());
        }
        let object = init
            .as_object()
            .ok_or_else(|| type_error("URLSearchParams expects a string or an object"))?;
        let mut params = Self::default();
        for (name, value) in own_entries(&object, ctx)? {
            params.set_from_value(name, &value, ctx)?;
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::builtins::test_support::eval_string;

    #[test]
    fn codec() {
        assert_eq!(decode_uri_component("a%20b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(decode_uri_component("%E4%BD%A0"), "你");
        let mut out = String::new();
        encode_uri_component("a b/你~", &mut out);
        assert_eq!(out, "a%20b%2F%E4%BD%A0~");
    }

    #[test]
    fn parse_get_get_all() {
        assert_eq!(
            eval_string(
                "var p = new URLSearchParams('?a=1&b=x%20y&a=2&c&=e');
                 [p.get('a'), p.get('b'), p.get('c'), String(p.get('zz')), p.getAll('a').join('+'),
                  p.getAll('b').length, p.getAll('zz').length, p.get('')].join(',')"
            ),
            "1,x y,,null,1+2,1,0,e"
        );
    }

    #[test]
    fn set_to_object_to_string() {
        assert_eq!(
            eval_string(
                "var p = new URLSearchParams('a=1&a=2&b=3');
                 p.set('b', null); p.set('c', ['x', 7]); p.set('d', 'a&b');
                 JSON.stringify(p.toObject()) + ' ' + p.toString() + ' ' + p"
            ),
            r#"{"a":["1","2"],"c":["x","7"],"d":"a&b"} a=1&a=2&c=x&c=7&d=a%26b a=1&a=2&c=x&c=7&d=a%26b"#
        );
    }

    #[test]
    fn from_object() {
        assert_eq!(
            eval_string("new URLSearchParams({x: 1, y: ['a b', 'c'], z: null}).toString()"),
            "x=1&y=a%20b&y=c"
        );
    }
}
