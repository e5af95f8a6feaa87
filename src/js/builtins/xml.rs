//! The `XML` namespace: `XML.parse`, `XML.stringify` and the `XML.Node` class.
//!
//! A node is a native object with plain, mutable `name`, `attributes` (object or null) and
//! `children` (array or null) properties, so scripts can push to `children`. `XML.decode`
//! and `XML.encode` work on `Data` and are installed by the JS core on top of
//! [`xml_parse`] and [`xml_stringify`].

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsArray;
use boa_engine::{
    Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction, Trace,
    js_string,
};

use crate::js::builtins::helpers::{
    array_elements, define_global, own_entries, push_js_str, register_class_into, type_error,
};
use crate::js::builtins::xml_parser::{XmlContent, XmlElement, parse_document};

/// Largest indentation step `stringify` honours (as in Pipy).
const MAX_SPACE: usize = 10;

/// Marker data identifying `XML.Node` instances.
#[derive(Debug, Trace, Finalize, JsData)]
pub struct XmlNode;

/// Creates an `XML.Node` with the given property values.
pub fn new_node(
    name: JsValue,
    attributes: JsValue,
    children: JsValue,
    ctx: &mut Context,
) -> JsResult<JsObject> {
    let node = XmlNode::from_data(XmlNode, ctx)?;
    node.create_data_property_or_throw(js_string!("name"), name, ctx)?;
    node.create_data_property_or_throw(js_string!("attributes"), attributes, ctx)?;
    node.create_data_property_or_throw(js_string!("children"), children, ctx)?;
    Ok(node)
}

fn is_node(value: &JsValue) -> bool {
    value.as_object().is_some_and(|o| o.is::<XmlNode>())
}

fn element_to_node(element: XmlElement, ctx: &mut Context) -> JsResult<JsObject> {
    let attributes = if element.attributes.is_empty() {
        JsValue::null()
    } else {
        let object = JsObject::with_object_proto(ctx.intrinsics());
        for (k, v) in element.attributes {
            object.create_data_property_or_throw(JsString::from(k), JsString::from(v), ctx)?;
        }
        object.into()
    };
    let mut children = Vec::with_capacity(element.children.len());
    for child in element.children {
        children.push(match child {
            XmlContent::Element(e) => element_to_node(e, ctx)?.into(),
            XmlContent::Text(t) => JsString::from(t).into(),
        });
    }
    let children = JsArray::from_iter(children, ctx);
    new_node(
        JsString::from(element.name).into(),
        attributes,
        children.into(),
        ctx,
    )
}

/// Parses XML text into a root node (name `''`, attributes `{}`, children = `[document
/// element]`); returns `null` for malformed input. Must run in the realm whose `XML.Node`
/// the result should be an instance of.
pub fn xml_parse(text: &str, ctx: &mut Context) -> JsResult<JsValue> {
    let Ok(root) = parse_document(text) else {
        return Ok(JsValue::null());
    };
    let element = element_to_node(root, ctx)?;
    let children = JsArray::from_iter([JsValue::from(element)], ctx);
    let attributes = JsObject::with_object_proto(ctx.intrinsics());
    Ok(new_node(
        js_string!("").into(),
        attributes.into(),
        children.into(),
        ctx,
    )?
    .into())
}

/// Appends text, wrapped in CDATA sections when it holds `<`, `>` or `&`.
fn write_text(out: &mut String, text: &str) {
    if !text.contains(['<', '>', '&']) {
        out.push_str(text);
        return;
    }
    // "]]>" cannot appear inside CDATA: split after "]]" so ">" starts the next section.
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.find("]]>").map_or(rest.len(), |i| i + 2);
        out.push_str("<![CDATA[");
        out.push_str(&rest[..cut]);
        out.push_str("]]>");
        rest = &rest[cut..];
    }
}

/// Appends an attribute value escaped for a double-quoted attribute (XML 1.0 section 3.1).
fn write_attribute_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, value: &JsValue, ctx: &mut Context) -> JsResult<()> {
    let s = match value.as_string() {
        Some(s) => s,
        None => value.to_string(ctx)?,
    };
    push_js_str(out, &s);
    Ok(())
}

/// Serialiser state: output buffer, indentation step and a scratch buffer for text.
struct Writer {
    out: String,
    space: usize,
    text: String,
}

impl Writer {
    fn indent(&mut self, level: usize) {
        if self.space > 0 {
            self.out
                .extend(std::iter::repeat_n(' ', self.space * level));
        }
    }

    fn newline(&mut self) {
        if self.space > 0 {
            self.out.push('\n');
        }
    }

    fn text(&mut self, value: &JsValue, ctx: &mut Context) -> JsResult<()> {
        self.text.clear();
        push_value(&mut self.text, value, ctx)?;
        write_text(&mut self.out, &self.text);
        Ok(())
    }

    fn node(&mut self, node: &JsObject, level: usize, ctx: &mut Context) -> JsResult<()> {
        let name = node.get(js_string!("name"), ctx)?;
        if name.is_null_or_undefined() {
            return Ok(());
        }
        let mut name_text = String::new();
        push_value(&mut name_text, &name, ctx)?;

        self.indent(level);
        self.out.push('<');
        self.out.push_str(&name_text);
        if let Some(attributes) = node.get(js_string!("attributes"), ctx)?.as_object() {
            for (k, v) in own_entries(&attributes, ctx)? {
                self.out.push(' ');
                push_js_str(&mut self.out, &k);
                self.out.push_str("=\"");
                self.text.clear();
                push_value(&mut self.text, &v, ctx)?;
                write_attribute_value(&mut self.out, &self.text);
                self.out.push('"');
            }
        }

        let children = match node.get(js_string!("children"), ctx)?.as_object() {
            Some(list) => array_elements(&list, ctx)?,
            None => Vec::new(),
        };
        match children.as_slice() {
            [] => {
                self.out.push_str("/>");
                self.newline();
                return Ok(());
            }
            [only] if !is_node(only) => {
                self.out.push('>');
                self.text(only, ctx)?;
            }
            _ => {
                self.out.push('>');
                self.newline();
                for child in &children {
                    match child.as_object().filter(|o| o.is::<XmlNode>()) {
                        Some(element) => self.node(&element, level + 1, ctx)?,
                        None => {
                            self.indent(level + 1);
                            self.text(child, ctx)?;
                            self.newline();
                        }
                    }
                }
                self.indent(level);
            }
        }
        self.out.push_str("</");
        self.out.push_str(&name_text);
        self.out.push('>');
        self.newline();
        Ok(())
    }
}

/// Serialises a document node whose only child is the document element. Returns `""` when
/// the node does not have exactly one child node (as Pipy does); throws if `node` is not an
/// `XML.Node`. `space` (clamped to 0..=10) indents each element by `space * level` and
/// puts it on its own line.
pub fn xml_stringify(node: &JsValue, space: usize, ctx: &mut Context) -> JsResult<String> {
    let doc = node
        .as_object()
        .filter(|o| o.is::<XmlNode>())
        .ok_or_else(|| type_error("expects an XML.Node"))?;
    let children = match doc.get(js_string!("children"), ctx)?.as_object() {
        Some(list) => array_elements(&list, ctx)?,
        None => return Ok(String::new()),
    };
    let [root] = children.as_slice() else {
        return Ok(String::new());
    };
    let Some(root) = root.as_object().filter(|o| o.is::<XmlNode>()) else {
        return Ok(String::new());
    };
    let mut writer = Writer {
        out: String::new(),
        space: space.min(MAX_SPACE),
        text: String::new(),
    };
    writer.node(&root, 0, ctx)?;
    Ok(writer.out)
}

/// Reads the optional `space` argument (negative or missing means 0).
pub fn space_arg(value: Option<&JsValue>, ctx: &mut Context) -> JsResult<usize> {
    match value {
        Some(v) if !v.is_undefined() => Ok(usize::try_from(v.to_i32(ctx)?).unwrap_or(0)),
        _ => Ok(0),
    }
}

fn js_xml_parse(_this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let text = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    xml_parse(&text.to_std_string_lossy(), ctx)
}

fn js_xml_stringify(_this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let node = args.first().cloned().unwrap_or_default();
    let space = space_arg(args.get(1), ctx)?;
    Ok(JsString::from(xml_stringify(&node, space, ctx)?).into())
}

impl Class for XmlNode {
    const NAME: &'static str = "Node";
    const LENGTH: usize = 3;

    fn init(_class: &mut ClassBuilder<'_>) -> JsResult<()> {
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        _ctx: &mut Context,
    ) -> JsResult<Self> {
        if args.is_empty() {
            return Err(type_error("XML.Node expects a name"));
        }
        Ok(Self)
    }

    /// Sets the node's properties; `from_data` (no arguments) leaves that to `new_node`.
    fn object_constructor(
        instance: &JsObject<Self>,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<()> {
        let Some(name) = args.first() else {
            return Ok(());
        };
        let object_or_null = |v: Option<&JsValue>| match v {
            Some(v) if v.is_object() => v.clone(),
            _ => JsValue::null(),
        };
        let name = name.to_string(ctx)?;
        let instance = instance.clone().upcast();
        instance.create_data_property_or_throw(js_string!("name"), name, ctx)?;
        instance.create_data_property_or_throw(
            js_string!("attributes"),
            object_or_null(args.get(1)),
            ctx,
        )?;
        instance.create_data_property_or_throw(
            js_string!("children"),
            object_or_null(args.get(2)),
            ctx,
        )?;
        Ok(())
    }
}

/// Builds the `XML` object (parse, stringify, Node) and installs it as a global.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let xml = ObjectInitializer::new(ctx)
        .function(
            NativeFunction::from_fn_ptr(js_xml_parse),
            js_string!("parse"),
            1,
        )
        .function(
            NativeFunction::from_fn_ptr(js_xml_stringify),
            js_string!("stringify"),
            2,
        )
        .build();
    register_class_into::<XmlNode>(&xml, ctx)?;
    define_global("XML", xml, ctx)
}

#[cfg(test)]
mod tests {
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn tutorial_17_json_to_xml() {
        let script = "
            var obj2xml = node => (
              typeof node === 'object' ? (
                Object.entries(node).flatMap(
                  ([k, v]) => (
                    v instanceof Array && (v.map(e => new XML.Node(k, null, obj2xml(e)))) ||
                    v instanceof Object && (new XML.Node(k, null, obj2xml(v))) ||
                    (new XML.Node(k, null, [v]))
                  )
                )
              ) : [ new XML.Node('body', null, ['']) ]
            );
            var enc = v => XML.stringify(new XML.Node('', null, [new XML.Node('root', null, obj2xml(v))]), 2);
            enc(JSON.parse('{\"msg\": \"Hi, there!\"}')) + '|' + enc(undefined) + '|' +
              enc({a: [1, 2], b: {c: 'x<y'}, d: {}})";
        assert_eq!(
            eval_string(script),
            "<root>\n  <msg>Hi, there!</msg>\n</root>\n|<root>\n  <body></body>\n</root>\n|\
             <root>\n  <a>\n    <body></body>\n  </a>\n  <a>\n    <body></body>\n  </a>\n  <b>\n    <c><![CDATA[x<y]]></c>\n  </b>\n  <d/>\n</root>\n"
        );
    }

    #[test]
    fn stringify_compact_and_mixed_content() {
        assert_eq!(
            eval_string(
                "var n = new XML.Node('a', {k: 'v\"&'}, ['t', new XML.Node('b'), 'u]]>v&']);
                 XML.stringify(new XML.Node('', null, [n]))"
            ),
            "<a k=\"v&quot;&amp;\">t<b/><![CDATA[u]]]]><![CDATA[>v&]]></a>"
        );
        assert_eq!(
            eval_string(
                "var n = new XML.Node('a', null, ['t', new XML.Node('b', null, [])]);
                 XML.stringify(new XML.Node('', null, [n]), 1)"
            ),
            "<a>\n t\n <b/>\n</a>\n"
        );
    }

    #[test]
    fn stringify_requires_single_root() {
        assert_eq!(
            eval_string(
                "[XML.stringify(new XML.Node('', null, [])), XML.stringify(new XML.Node('', null, ['x'])),
                  XML.stringify(new XML.Node('x'))].join('|')"
            ),
            "||"
        );
        assert!(eval_bool(
            "try { XML.stringify({}); false } catch (e) { e instanceof TypeError }"
        ));
        assert_eq!(
            eval_string(
                "var a = {x: 1}; Object.defineProperty(a, 'h', {value: 2, enumerable: false});
                 XML.stringify(new XML.Node('', null, [new XML.Node('n', a, null)]))"
            ),
            "<n x=\"1\"/>"
        );
    }

    #[test]
    fn parse_round_trip_and_mutation() {
        assert_eq!(
            eval_string(
                "var d = XML.parse('<?xml version=\"1.0\"?><r a=\"1\"><m>x &amp; y</m><e/></r>');
                 var r = d.children[0];
                 var info = [d.name === '', r.name, r.attributes.a, r.children.length,
                             r.children[0].children[0], r.children[1].attributes,
                             r instanceof XML.Node].join(',');
                 r.children.push(new XML.Node('n', null, ['z']));
                 r.name = 'root';
                 info + '|' + XML.stringify(d)"
            ),
            "true,r,1,2,x & y,,true|<root a=\"1\"><m><![CDATA[x & y]]></m><e/><n>z</n></root>"
        );
        assert!(eval_bool(
            "XML.parse('<a>') === null && XML.parse({toString: () => '<a/>'}).children[0].name === 'a'"
        ));
    }

    #[test]
    fn node_constructor_defaults() {
        assert_eq!(
            eval_string(
                "var n = new XML.Node('x'); [n.name, n.attributes, n.children, typeof Node].join(',')"
            ),
            "x,,,undefined"
        );
        assert!(eval_bool(
            "try { new XML.Node(); false } catch (e) { e instanceof TypeError }"
        ));
    }
}
