//! `XML.decode(Data)` and `XML.encode(node, space)`: the `Data` forms of `XML.parse` and
//! `XML.stringify`, added onto the realm's `XML` object (which the builtins install first).

use super::builtins::xml::{space_arg, xml_parse, xml_stringify};
use super::message::{data_to_js, to_data};
use boa_engine::{Context, JsArgs, JsResult, JsValue, NativeFunction, js_string};

/// `XML.decode(data)`: the root node of the document in `data` (a Data or string), or null
/// when it is not well-formed XML.
fn decode(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let Some(data) = to_data(args.get_or_undefined(0), ctx)? else {
        return Ok(JsValue::null());
    };
    xml_parse(&data.to_string_lossy(), ctx)
}

/// `XML.encode(node, space?)`: the document as UTF-8 `Data`.
fn encode(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let space = space_arg(args.get(1), ctx)?;
    let text = xml_stringify(args.get_or_undefined(0), space, ctx)?;
    data_to_js(text.into_bytes().into(), ctx)
}

/// Adds `decode` and `encode` to the current realm's `XML` object. Does nothing when the
/// builtins did not install `XML`.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let xml = ctx.global_object().get(js_string!("XML"), ctx)?;
    let Some(xml) = xml.as_object() else {
        return Ok(());
    };
    let decode = NativeFunction::from_fn_ptr(decode).to_js_function(ctx.realm());
    let encode = NativeFunction::from_fn_ptr(encode).to_js_function(ctx.realm());
    xml.set(js_string!("decode"), decode, false, ctx)?;
    xml.set(js_string!("encode"), encode, false, ctx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use boa_engine::{Context, Source};

    fn eval(script: &str) -> String {
        let mut ctx = Context::default();
        let setup = crate::js::message::register(&mut ctx)
            .and_then(|_| crate::js::builtins::register_builtins(&mut ctx))
            .and_then(|_| super::register(&mut ctx));
        assert!(setup.is_ok());
        ctx.eval(Source::from_bytes(script))
            .and_then(|v| v.to_string(&mut ctx))
            .map(|s| s.to_std_string_escaped())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn encode_gives_data_and_decode_reads_it_back() {
        assert_eq!(
            eval(
                "var d = XML.encode(new XML.Node('', null, [new XML.Node('root', null,
                   [new XML.Node('msg', null, ['Hi, there!'])])]), 2);
                 var r = XML.decode(new Data('<root><msg>Hi</msg></root>'));
                 [d instanceof Data, d.toString(), r.children[0].children[0].children[0],
                  XML.decode(new Data('<a>')), XML.decode(null)].join('|')"
            ),
            "true|<root>\n  <msg>Hi, there!</msg>\n</root>\n|Hi||"
        );
    }
}
