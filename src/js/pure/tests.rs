//! Each case runs a callback both ways, natively and in the engine, on the same request, and
//! compares the encoded replies byte for byte.

use super::PureReply;
use crate::engine::data::Data;
use crate::engine::head::Head;
use crate::http::encoder::{MessageEncoder, OutHead};
use crate::http::head::{Headers, RequestHead, ResponseHead, Version};
use crate::js::message::{JsMessage, js_to_message};
use crate::js::runtime::ScriptEpoch;
use boa_engine::{Context, Source};
use bytes::Bytes;

/// A context with Pipy's globals; `script` defines `f`, the callback, as its completion value.
fn setup(script: &str) -> (Context, boa_engine::object::builtins::JsFunction) {
    let mut ctx = Context::default();
    crate::js::message::register(&mut ctx).expect("Message registers");
    crate::js::builtins::register_builtins(&mut ctx).expect("builtins register");
    let v = ctx
        .eval(Source::from_bytes(script))
        .unwrap_or_else(|e| panic!("script fails: {e}\n{script}"));
    let f = crate::js::config::as_function(&v).expect("the script ends with a function");
    (ctx, f)
}

pub(super) fn request(method: &str, path: &[u8], headers: &[(&str, &[u8])]) -> Head {
    Head::request(RequestHead {
        method: Bytes::copy_from_slice(method.as_bytes()),
        path: Bytes::copy_from_slice(path),
        version: Version::Http11,
        headers: Headers(
            headers
                .iter()
                .map(|(n, v)| {
                    (
                        Bytes::copy_from_slice(n.as_bytes()),
                        Bytes::copy_from_slice(v),
                    )
                })
                .collect(),
        ),
    })
}

fn encode(head: ResponseHead, body: Option<Data>) -> Vec<u8> {
    let mut enc = MessageEncoder::new(4096);
    let mut out = Data::new();
    enc.start(OutHead::Response(head), true, false, &mut out);
    if let Some(b) = body {
        enc.body(b, &mut out);
    }
    enc.end(&mut out);
    out.to_bytes().to_vec()
}

fn engine_reply(
    f: &boa_engine::object::builtins::JsFunction,
    req: Head,
    body: &Data,
    ctx: &mut Context,
) -> Vec<u8> {
    engine_reply_outcome(f, req, body, ctx).unwrap_or_else(|e| panic!("callback throws: {e}"))
}

/// The engine's encoded reply, or what the callback threw.
pub(super) fn engine_reply_outcome(
    f: &boa_engine::object::builtins::JsFunction,
    req: Head,
    body: &Data,
    ctx: &mut Context,
) -> Result<Vec<u8>, String> {
    let msg = JsMessage::new_object(req, Some(body.clone()), ctx).expect("message builds");
    let v = f
        .call(&boa_engine::JsValue::undefined(), &[msg], ctx)
        .map_err(|e| e.to_string())?;
    let (head, body) = js_to_message(&v).expect("callback returns a Message");
    let head = crate::js::head::response_of(head, ctx).map_err(|e| e.to_string())?;
    Ok(encode(head, body))
}

/// The native reply, `None` when it defers to the engine.
fn native_reply(pure: &PureReply, req: &Head) -> Option<Vec<u8>> {
    native_reply_with_body(pure, req, &Data::new())
}

pub(super) fn native_reply_with_body(pure: &PureReply, req: &Head, body: &Data) -> Option<Vec<u8>> {
    pure.reply(req, body, ScriptEpoch::fresh())
        .map(|(h, b)| encode(h, b))
}

pub(super) fn compile(
    script: &str,
) -> Result<(Context, boa_engine::object::builtins::JsFunction, PureReply), &'static str> {
    let (mut ctx, f) = setup(script);
    let module = super::ParsedModule::parse(script.as_bytes()).expect("the script parses");
    let pure = PureReply::compile(&f, &module, &mut ctx)?;
    Ok((ctx, f, pure))
}

/// Asserts that the callback compiles and that, for every request (with an empty body and
/// with a non-empty one), the native reply exists and equals the engine's.
fn same_natively(script: &str, requests: &[Head]) {
    let (mut ctx, f, pure) =
        compile(script).unwrap_or_else(|why| panic!("not compiled: {why}\n{script}"));
    let bodies = [
        Data::new(),
        Data::from(Bytes::from_static("body ü\n".as_bytes())),
    ];
    for req in requests {
        for body in &bodies {
            let native = native_reply_with_body(&pure, req, body)
                .unwrap_or_else(|| panic!("deferred to the engine: {script}\n{req:?}"));
            let copy = Head::request(match &*req.get() {
                crate::engine::head::HeadKind::Request(r) => r.clone(),
                _ => unreachable!("test requests are request heads"),
            });
            let engine = engine_reply(&f, copy, body, &mut ctx);
            assert_eq!(
                String::from_utf8_lossy(&native),
                String::from_utf8_lossy(&engine),
                "{script}"
            );
        }
    }
}

fn plain_requests() -> Vec<Head> {
    vec![
        request("GET", b"/api/users/42", &[("host", b"127.0.0.1:8080")]),
        request("POST", b"/hello?x=1", &[("host", b"Example.COM")]),
        request("GET", b"/", &[]),
        request(
            "PUT",
            b"/static/a%20b/\xff\xfe",
            &[("host", b"a.b"), ("host", b"c.d")],
        ),
    ]
}

const ROUTE: &str = "var router = new algo.URLRouter({ '/hello': 'hello', '/api/*': 'api', \
                     '*.example.com/*': 'sub', '/*': 'default' });\n";

#[test]
fn the_bench_route_callback_replies_as_the_engine_does() {
    let script = format!(
        "{ROUTE}(msg => new Message(\
           {{ status: 200, headers: {{ 'content-type': 'text/plain' }} }},\
           router.find(msg.head.headers.host, msg.head.path) + ': ' + msg.head.method + ' ' + msg.head.path + '\\n'\
         ))"
    );
    same_natively(&script, &plain_requests());
}

#[test]
fn templates_numbers_literals_and_globals_convert_as_in_the_engine() {
    let cases = [
        "var n = 7, s = 'x', u; (msg => new Message({status: 201}, `${msg.head.protocol} ${n} ${s} ${u} ${null} ${true}`))",
        "(msg => new Message({status: 404, statusText: 'Gone', headers: {a: 1, b: true, c: 'd'}}, 1 + 2 + 'x' + 3))",
        "(msg => new Message('only a body ' + msg.head.headers['x-missing']))",
        "(msg => new Message({}, 'host=' + msg.head.headers.host + ' path=' + msg.head.path))",
        "(() => new Message())",
        "(msg => { return new Message('block ' + msg.head.path) })",
        "(msg => new Message(msg.body))",
        "(msg => new Message({status: 201, headers: {'x-echo': 'yes'}}, msg.body))",
        "(() => new Message({status: 204}))",
        "(msg => new Message({headers: {'x-n': 1.5}}, undefined))",
        "(msg => new Message({}, null))",
        "var router = new algo.URLRouter({'/a/*': 42}); (msg => new Message({}, router.find('/a/b') + 1))",
        "var router = new algo.URLRouter({'/a/*': 'x'}); (msg => new Message({}, router.find(undefined, '/a', null, 'b')))",
        "(msg => new Message({protocol: 'HTTP/1.0'}, ((msg.head.method))))",
    ];
    for script in cases {
        same_natively(script, &plain_requests());
    }
}

#[test]
fn values_the_subset_does_not_convert_go_to_the_engine() {
    let cases = [
        // A fraction printed as text, an object concatenated, NaN.
        "(msg => new Message({}, 'x' + 1.5))",
        "var o = {toString() { return 'o' }}; (msg => new Message({}, 'x' + o))",
        "var u; (msg => new Message({}, u + 1))",
        // One argument that is not a string is a head, not a body.
        "var n = 5; (msg => new Message(n))",
        // A Data object converts to text only through its own methods.
        "(msg => new Message('x' + msg.body))",
        "(msg => new Message(`${msg.body}`))",
    ];
    for script in cases {
        let (mut ctx, f, pure) = compile(script).unwrap_or_else(|why| panic!("{why}: {script}"));
        for req in plain_requests() {
            assert!(native_reply(&pure, &req).is_none(), "{script}");
            let _ = engine_reply(&f, req, &Data::new(), &mut ctx);
        }
    }
}

#[test]
fn callbacks_outside_the_subset_are_not_compiled() {
    let cases = [
        (
            "(msg => { var x = 1; return new Message('a') })",
            "has statements",
        ),
        ("(msg => msg)", "does not return new Message(...)"),
        (
            "(msg => new Message({status: 200 + 1}, 'a'))",
            "has a head literal with computed values",
        ),
        (
            "(msg => new Message({}, msg.head.headers))",
            "reads a request field outside the pure subset",
        ),
        (
            "(msg => new Message({}, msg.body.size))",
            "reads a request field outside the pure subset",
        ),
        (
            "(msg => new Message({}, String(msg.head.path)))",
            "calls a function outside the pure subset",
        ),
        (
            "(msg => new Message({}, this.x))",
            "uses an operation outside the pure subset",
        ),
        (
            "((msg, b) => new Message('a'))",
            "has parameters other than one plain name",
        ),
        (
            "(({head}) => new Message('a'))",
            "has parameters other than one plain name",
        ),
        (
            "let s = 'a'; (msg => new Message(s))",
            "reads a variable that is not a global var",
        ),
        (
            "(function () { var s = 'a'; return msg => new Message(s) })()",
            "reads a variable that is not a global var",
        ),
        (
            "var s = 'a'; (function () { return msg => new Message(s) })()",
            "is in a module that uses `with` or eval",
        ),
        (
            "(function (msg) { return new Message('a') })",
            "is not a single arrow function of the module",
        ),
        (
            "var f = msg => new Message('a'); var g = msg => new Message('a'); f",
            "is not a single arrow function of the module",
        ),
    ];
    for (script, why) in cases {
        // The one case that needs eval to exist in the module.
        let script = if why.contains("eval") {
            format!("eval('1'); {script}")
        } else {
            script.to_string()
        };
        match compile(&script) {
            Ok(_) => panic!("compiled: {script}"),
            Err(got) => assert_eq!(got, why, "{script}"),
        }
    }
}

#[test]
fn what_a_script_changes_later_sends_requests_to_the_engine() {
    let base = format!(
        "{ROUTE}var s = 'a'; globalThis.t = 't';\n(msg => new Message({{}}, s + t + router.find(msg.head.headers.host, msg.head.path) + msg.head.headers.host))"
    );
    let changes = [
        "Message = function () { return new MessageEnd() }",
        "Object.defineProperty(globalThis, 't', { get() { return 'getter' } })",
        "s = { toString() { return 'object' } }",
        "router.find = () => 'own find'",
        "algo.URLRouter.prototype.find = () => 'replaced find'",
        "router = { find: () => 'plain object' }",
        "Object.prototype.host = 'inherited'",
        "Object.prototype.status = 500",
        "Object.defineProperty(Message.prototype, 'head', { get() { return { headers: {} } } })",
        "Object.defineProperty(Message.prototype, 'body', { get() { return 'b' } })",
    ];
    for change in changes {
        let (mut ctx, _, pure) = compile(&base).unwrap_or_else(|why| panic!("{why}"));
        let req = request("GET", b"/hello", &[]);
        assert!(native_reply(&pure, &req).is_some(), "before {change}");
        ctx.eval(Source::from_bytes(change))
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        assert!(native_reply(&pure, &req).is_none(), "after {change}");
    }
    // A global reassigned to another primitive is read per request.
    let (mut ctx, f, pure) = compile(&base).unwrap_or_else(|why| panic!("{why}"));
    ctx.eval(Source::from_bytes("s = 'b'"))
        .expect("assignment runs");
    let req = request("GET", b"/hello", &[("host", b"h")]);
    let native = native_reply(&pure, &req).expect("still native");
    assert_eq!(
        native,
        engine_reply(
            &f,
            request("GET", b"/hello", &[("host", b"h")]),
            &Data::new(),
            &mut ctx,
        )
    );
    assert!(String::from_utf8_lossy(&native).ends_with("bthelloh"));
}
