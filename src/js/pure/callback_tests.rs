//! Each case runs a filter callback both ways, natively and in the engine, from the same
//! context variables and on the same request head, and compares the value returned and every
//! variable afterwards.

use super::callback::{CallbackArg, CompiledCallback};
use crate::engine::context::{self, Context as Slots, ContextRef, InboundInfo, SlotLayout};
use crate::engine::event::Event;
use crate::engine::head::Head;
use crate::js::config::SlotCell;
use crate::js::message::event_to_js;
use crate::js::runtime::ScriptEpoch;
use boa_engine::object::builtins::JsFunction;
use boa_engine::{Context, JsValue, Source};
use std::cell::Cell;
use std::rc::Rc;

/// Context variables of the plugin gateway's modules, with their initial values.
const GATEWAY_VARS: &[(&str, &str)] = &[
    ("__turnDown", "false"),
    ("__serviceID", "''"),
    ("_target", "''"),
    ("_route", "null"),
    (
        "_router",
        "new algo.URLRouter({ '/hi/*': { service: 'hi' }, '/ip/*': { service: 'ip', rewrite: [new RegExp('^/ip/?'), '/'] }, '/none': { service: 'none' } })",
    ),
    (
        "_services",
        "({ hi: new algo.RoundRobinLoadBalancer(['a:1', 'b:2']), ip: new algo.RoundRobinLoadBalancer(['c:3']) })",
    ),
    (
        "_picked",
        "(() => { var c = new algo.Cache(b => b.select()); c.get(_services_init.hi); return c })()",
    ),
];

/// A realm with Pipy's globals, the variables as context-variable accessors, and `script`'s
/// completion value as the callback.
pub(super) struct Harness {
    ctx: Context,
    f: JsFunction,
    pub(super) compiled: Option<CompiledCallback>,
    initial: Vec<JsValue>,
}

impl Harness {
    pub(super) fn new(vars: &[(&str, &str)], script: &str) -> Harness {
        let mut ctx = Context::default();
        crate::js::message::register(&mut ctx).expect("Message registers");
        crate::js::builtins::register_builtins(&mut ctx).expect("builtins register");
        let pipy = boa_engine::JsObject::with_object_proto(ctx.intrinsics());
        crate::js::globals::register(&mut ctx, pipy, "test.js").expect("globals register");
        let cells: Vec<(String, SlotCell)> = vars
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.to_string(), Rc::new(Cell::new((0, i)))))
            .collect();
        for (name, cell) in &cells {
            crate::js::config::install_context_var(&mut ctx, name, cell.clone())
                .expect("accessor installs");
        }
        // Initial values may refer to one another through `<name>_init` globals.
        let mut initial = Vec::new();
        for (name, init) in vars {
            let v = ctx
                .eval(Source::from_bytes(init))
                .unwrap_or_else(|e| panic!("{init}: {e}"));
            ctx.eval(Source::from_bytes(&format!("var {name}_init")))
                .expect("declares");
            ctx.global_object()
                .set(
                    boa_engine::JsString::from(format!("{name}_init")),
                    v.clone(),
                    true,
                    &mut ctx,
                )
                .expect("sets");
            initial.push(v);
        }
        let v = ctx
            .eval(Source::from_bytes(script))
            .unwrap_or_else(|e| panic!("script fails: {e}\n{script}"));
        let f = crate::js::config::as_function(&v).expect("the script ends with a function");
        let find = |name: &str| {
            cells
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.clone())
        };
        let module = super::ParsedModule::parse(script.as_bytes()).expect("the script parses");
        let compiled = CompiledCallback::compile(&f, &find, &module, &mut ctx).ok();
        Harness {
            ctx,
            f,
            compiled,
            initial,
        }
    }

    /// Fresh variables, and a client connection whose `__inbound` object nothing has built yet.
    fn slots(&self) -> ContextRef {
        let inbound = InboundInfo {
            id: 7,
            remote: "192.0.2.1:40000".parse().expect("address"),
            local: "127.0.0.1:8080".parse().expect("address"),
            js: Default::default(),
        };
        let layout = Rc::new(SlotLayout::new(std::slice::from_ref(&self.initial)));
        Slots::new_root(&layout, Some(Rc::new(inbound)))
    }

    /// The engine's value and variables after one call.
    fn engine(&mut self, head: Option<&Head>) -> (JsValue, Vec<JsValue>) {
        self.engine_outcome(head)
            .unwrap_or_else(|e| panic!("callback throws: {e}"))
    }

    /// The engine's value and variables after one call, or what it threw.
    pub(super) fn engine_outcome(
        &mut self,
        head: Option<&Head>,
    ) -> Result<(JsValue, Vec<JsValue>), String> {
        let slots = self.slots();
        context::set_current(&slots);
        let args = match head {
            Some(h) => {
                vec![event_to_js(&Event::MessageStart(h.clone()), &mut self.ctx).expect("event")]
            }
            None => vec![],
        };
        let v = self
            .f
            .call(&JsValue::undefined(), &args, &mut self.ctx)
            .map_err(|e| e.to_string())?;
        let after = slots.module_values(0);
        Ok((v, after))
    }

    /// The native value and variables after one call; `None` when it defers to the engine, and
    /// then the variables must not have changed.
    pub(super) fn native(&self, head: Option<&Head>) -> Option<(JsValue, Vec<JsValue>)> {
        self.native_at(head, ScriptEpoch::fresh())
    }

    /// [`Harness::native`] under a given script epoch.
    fn native_at(
        &self,
        head: Option<&Head>,
        epoch: ScriptEpoch,
    ) -> Option<(JsValue, Vec<JsValue>)> {
        let compiled = self.compiled.as_ref().expect("compiled");
        let slots = self.slots();
        context::set_current(&slots);
        let arg = match head {
            Some(h) => CallbackArg::MessageStart(h),
            None => CallbackArg::Opaque,
        };
        let v = compiled.run(arg, epoch);
        let after = slots.module_values(0);
        match v {
            Some(v) => Some((v, after)),
            None => {
                assert!(same_values(&after, &self.initial), "changed, then deferred");
                None
            }
        }
    }
}

pub(super) fn same_values(a: &[JsValue], b: &[JsValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| JsValue::same_value(x, y))
}

pub(super) fn request(path: &str, headers: &[(&str, &str)]) -> Head {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    super::tests::request("GET", path.as_bytes(), &headers)
}

pub(super) fn copy(head: &Head) -> Head {
    match &*head.get() {
        crate::engine::head::HeadKind::Request(r) => Head::request(r.clone()),
        _ => unreachable!("test heads are requests"),
    }
}

/// Asserts that `script` compiles and gives, natively, what the engine gives for each head.
fn same_natively(vars: &[(&str, &str)], script: &str, heads: &[Option<Head>]) {
    let mut h = Harness::new(vars, script);
    assert!(h.compiled.is_some(), "not compiled: {script}");
    for head in heads {
        let native = h
            .native(head.as_ref())
            .unwrap_or_else(|| panic!("deferred to the engine: {script} on {head:?}"));
        let engine = h.engine(head.as_ref().map(copy).as_ref());
        assert!(
            JsValue::same_value(&native.0, &engine.0),
            "{script}: value {:?} natively, {:?} in the engine",
            native.0.display().to_string(),
            engine.0.display().to_string()
        );
        assert!(
            same_values(&native.1, &engine.1),
            "{script}: variables differ"
        );
    }
}

/// Asserts that `script` compiles but defers to the engine for `head`.
fn defers(vars: &[(&str, &str)], script: &str, head: Option<Head>) {
    let h = Harness::new(vars, script);
    assert!(h.compiled.is_some(), "not compiled: {script}");
    assert!(h.native(head.as_ref()).is_none(), "ran natively: {script}");
}

fn gateway_heads() -> Vec<Option<Head>> {
    vec![
        Some(request("/hi/there", &[("host", "example.com")])),
        Some(request("/none", &[])),
        Some(request("/nowhere", &[("host", "a"), ("host", "b")])),
    ]
}

#[test]
fn the_gateway_callbacks_run_natively_as_in_the_engine() {
    let router = "(msg => (
      _route = _router.find(msg.head.headers.host, msg.head.path),
      _route && (
        __serviceID = _route.service,
        _route.rewrite && (msg.head.path = msg.head.path.replace(_route.rewrite[0], _route.rewrite[1]))
      )
    ))";
    same_natively(GATEWAY_VARS, router, &gateway_heads());
    let balancer = "(() => (
      _target = _services[__serviceID] ? _picked.get(_services[__serviceID]) : '',
      _target && (__turnDown = true)
    ))";
    // With the service of a cached balancer, and with none.
    for service in ["'hi'", "''", "'none'"] {
        let mut vars = GATEWAY_VARS.to_vec();
        vars[1] = ("__serviceID", service);
        same_natively(&vars, balancer, &[None]);
    }
    for script in [
        "(() => __turnDown)",
        "(() => _target)",
        "(() => _router)",
        "(() => Boolean(_target))",
    ] {
        same_natively(GATEWAY_VARS, script, &[None]);
    }
}

#[test]
fn operators_and_conversions_match_the_engine() {
    let vars: &[(&str, &str)] = &[
        ("_a", "'abc'"),
        ("_n", "0"),
        (
            "_o",
            "({ x: 1, 'a-b': 'c', 7: 'seven', nested: { y: null } })",
        ),
        ("_u", "undefined"),
    ];
    let heads = [None, Some(request("/p", &[("host", "h"), ("x-n", "0")]))];
    for script in [
        "(() => _a && _n)",
        "(() => _n || _a)",
        "(() => _u ?? _n)",
        "(() => _n ?? 'x')",
        "(() => _n ? 'yes' : 'no')",
        "(() => !_a)",
        "(() => _a === 'abc')",
        "(() => _a !== 'abc')",
        "(() => _n === 0)",
        "(() => _o === _o)",
        "(() => _o.x + 1)",
        "(() => _o['a-b'] + _a)",
        "(() => _o[7])",
        "(() => _o[_a])",
        "(() => _o.nested.y)",
        "(() => _o.toString === _o.valueOf)",
        "(() => _o.hasOwnProperty !== undefined)",
        "(() => _a.length)",
        "(() => `${_a}-${_n}-${_u}`)",
        "(() => (_a = 'x', _n = _a + 1, _o = null))",
        "(() => _a = _n = 5)",
        "(() => { _a = 'block' })",
        "(() => _n % 3 + (_a.length % 2) + (7 % _n))",
        "(() => __inbound.id % 4)",
        "(() => __inbound.remoteAddress + ':' + __inbound.remotePort)",
        "(() => `${__inbound.localAddress}:${__inbound.localPort}|${__inbound.destinationAddress}|${__inbound.destinationPort}`)",
    ] {
        same_natively(vars, script, &heads);
    }
    for script in [
        "(msg => msg.head.headers['x-n'] === '0')",
        "(msg => msg.head.path + msg.head.method + msg.head.protocol)",
        "(msg => msg.head.headers.missing)",
    ] {
        same_natively(vars, script, &heads[1..]);
    }
}

#[test]
fn what_the_subset_cannot_do_exactly_goes_to_the_engine_before_any_effect() {
    let vars: &[(&str, &str)] = &[
        ("_a", "'a'"),
        ("_g", "({ get x() { return 1 } })"),
        ("_arr", "[1, 2]"),
        ("_p", "new Proxy({}, {})"),
        ("_c", "new algo.Cache(k => k + '!')"),
        ("_f", "1.5"),
        ("_s", "Symbol('s')"),
    ];
    let head = || Some(request("/ip/x", &[("set-cookie", "a=1")]));
    for script in [
        // A symbol has no native value, also where the body is the bare variable (the fast path).
        "(() => _s)",
        // A getter, an array, a Proxy.
        "(() => (_a = 'changed', _g.x))",
        "(() => (_a = 'changed', _arr[0]))",
        "(() => (_a = 'changed', _p.x))",
        // A cache miss would call the allocator.
        "(() => (_a = 'changed', _c.get('k')))",
        // A fraction printed, an object converted to a string.
        "(() => (_a = 'changed', _a + _f))",
        "(() => (_a = 'changed', _a + _g))",
        // A construct outside the subset, reached after an assignment.
        "(() => (_a = 'changed', _a ? _a.toUpperCase() : 0))",
        "(msg => (_a = 'changed', _a && (msg.head.path = '/')))",
        // A field the engine's `__inbound` object does not have; the object as a value.
        "(() => (_a = 'changed', __inbound.unknown))",
        "(() => (_a = 'changed', __inbound))",
        // set-cookie is an array in the engine.
        "(msg => (_a = 'changed', msg.head.headers['set-cookie']))",
    ] {
        defers(vars, script, head());
    }
    // Replaced built-ins.
    for (change, script) in [
        ("Boolean = x => 'replaced'", "(() => Boolean(_a))"),
        ("Object.prototype.id = 1", "(() => __inbound.id)"),
        (
            "algo.Cache.prototype.get = () => 'replaced'",
            "(() => _c.get('k'))",
        ),
        (
            "Object.prototype.missing = 'inherited'",
            "(msg => msg.head.headers.missing)",
        ),
        (
            "Object.defineProperty(MessageStart.prototype, 'head', { get() { return { path: 'x' } } })",
            "(msg => msg.head.path)",
        ),
    ] {
        let mut h = Harness::new(vars, script);
        assert!(h.compiled.is_some(), "not compiled: {script}");
        h.ctx
            .eval(Source::from_bytes(change))
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        assert!(
            h.native(head().as_ref()).is_none(),
            "after {change}: {script}"
        );
    }
}

/// The evaluator remembers what it read of script objects for one script epoch (memo.rs). A
/// change made with the engine in hand, which moves the epoch in a worker, is seen by the next
/// call: as the new value, or as a built-in that is no longer there (the engine runs the call).
#[test]
fn what_a_script_changed_is_seen_by_the_first_call_under_the_next_epoch() {
    let vars: &[(&str, &str)] = &[
        ("_o", "(globalThis.o = { x: 'one', y: { z: 'deep' } })"),
        ("_r", "(globalThis.r = new algo.URLRouter({ '/a': 'A' }))"),
        ("_a", "'a'"),
    ];
    let head = || Some(request("/ip/x", &[("host", "example.com")]));
    for (script, change, before, after) in [
        ("(() => _o.x)", "o.x = 'two'", "one", Some("two")),
        ("(() => _o.y.z)", "o.y = { z: 'new' }", "deep", Some("new")),
        ("(() => _o.x + _o.x)", "o.x = 'b'", "oneone", Some("bb")),
        (
            "(() => _o.w ?? 'none')",
            "Object.prototype.w = 'inherited'",
            "none",
            Some("inherited"),
        ),
        (
            "(() => Boolean(_a) + '')",
            "Boolean = x => 'replaced'",
            "true",
            None,
        ),
        (
            "(() => _r.find('/a'))",
            "algo.URLRouter.prototype.find = () => 'replaced'",
            "A",
            None,
        ),
        (
            "(msg => msg.head.path)",
            "Object.defineProperty(MessageStart.prototype, 'head', { get() { return { path: 'x' } } })",
            "/ip/x",
            None,
        ),
    ] {
        let mut h = Harness::new(vars, script);
        assert!(h.compiled.is_some(), "not compiled: {script}");
        let epoch = ScriptEpoch::fresh();
        for _ in 0..2 {
            let (v, _) = h
                .native_at(head().as_ref(), epoch)
                .unwrap_or_else(|| panic!("deferred before {change}: {script}"));
            assert_eq!(
                v.as_string().map(|s| s.to_std_string_escaped()).as_deref(),
                Some(before),
                "{script}"
            );
        }
        h.ctx
            .eval(Source::from_bytes(change))
            .unwrap_or_else(|e| panic!("{change}: {e}"));
        let next = h.native_at(head().as_ref(), ScriptEpoch::fresh());
        let got = next.map(|(v, _)| v.as_string().map(|s| s.to_std_string_escaped()));
        assert_eq!(
            got,
            after.map(|a| Some(a.to_string())),
            "after {change}: {script}"
        );
        if after.is_some() {
            let (engine, _) = h.engine(head().as_ref());
            assert_eq!(
                engine
                    .as_string()
                    .map(|s| s.to_std_string_escaped())
                    .as_deref(),
                after,
                "engine after {change}: {script}"
            );
        }
    }
}

#[test]
fn a_read_answers_again_only_for_the_object_and_key_it_read() {
    let vars: &[(&str, &str)] = &[("_o", "({ x: 'ox', y: 'oy' })"), ("_p", "({ x: 'px' })")];
    /// A request's path and `k` header, and the value the callback must return for it.
    type Call = (&'static str, &'static str, &'static str);
    let cases: &[(&str, &[Call])] = &[
        (
            "(msg => _o[msg.head.headers.k] ?? 'none')",
            &[
                ("/", "x", "ox"),
                ("/", "y", "oy"),
                ("/", "z", "none"),
                ("/", "x", "ox"),
            ],
        ),
        (
            "(msg => (msg.head.path === '/o' ? _o : _p).x)",
            &[("/o", "", "ox"), ("/p", "", "px"), ("/o", "", "ox")],
        ),
    ];
    for (script, calls) in cases {
        let mut h = Harness::new(vars, script);
        assert!(h.compiled.is_some(), "not compiled: {script}");
        // One epoch for every call: nothing a script could change changes between them, but
        // the request does.
        let epoch = ScriptEpoch::fresh();
        for (path, k, want) in *calls {
            let head = request(path, &[("k", k)]);
            let (v, _) = h
                .native_at(Some(&head), epoch)
                .unwrap_or_else(|| panic!("deferred: {script} on {path} {k}"));
            let got = v.as_string().map(|s| s.to_std_string_escaped());
            assert_eq!(got.as_deref(), Some(*want), "{script} on {path} {k}");
            let (engine, _) = h.engine(Some(&head));
            assert!(
                engine
                    .as_string()
                    .is_some_and(|s| s.to_std_string_escaped() == *want),
                "the engine disagrees: {script} on {path} {k}"
            );
        }
    }
}

#[test]
fn a_cache_hit_is_marked_used_only_when_the_call_completes() {
    let vars: &[(&str, &str)] = &[(
        "_c",
        "(() => { var c = new algo.Cache(null, null, { size: 2 }); c.set('a', 1); c.set('b', 2); return c })()",
    )];
    let h = Harness::new(vars, "(() => _c.get('a'))");
    let (v, _) = h.native(None).expect("a hit runs natively");
    assert_eq!(v.as_number(), Some(1.0));
    // 'a' is now the most recently used: adding 'c' evicts 'b'.
    let mut h = h;
    let evicted = h
        .ctx
        .eval(Source::from_bytes(
            "_c_init.set('c', 3); [_c_init.get('a'), _c_init.get('b')].join()",
        ))
        .expect("runs");
    assert_eq!(
        evicted.as_string().map(|s| s.to_std_string_escaped()),
        Some("1,".to_string())
    );
}

#[test]
fn callbacks_outside_the_subset_are_not_compiled() {
    let vars: &[(&str, &str)] = &[("_a", "1")];
    for script in [
        "(() => new Message('a'))",
        "(() => _a += 1)",
        "(() => { var x = 1; return x })",
        "(function () { return _a })",
        "(() => { let b = 1; return () => b })()",
        "(() => String(_a))",
        "(() => notAVariable = 1)",
        // A twin of the same text reading a closure variable.
        "var _b = 'global'; var g = () => _a && _b; (function () { var _b = 2; return () => _a && _b })()",
    ] {
        let h = Harness::new(vars, script);
        assert!(h.compiled.is_none(), "compiled: {script}");
    }
}

#[test]
fn what_a_call_that_gave_up_recorded_is_not_applied_by_the_next() {
    let vars: &[(&str, &str)] = &[
        ("_a", "'a'"),
        ("_b", "'b'"),
        ("_c", "new algo.Cache(k => k + '!')"),
    ];
    let script = "var g = 1; (() => g === 1 ? (_b = 'first', _c.get('k')) : (_a = _c.get('k')))";
    let mut h = Harness::new(vars, script);
    // A miss: the engine would call the allocator, so the first call gives up after recording
    // its write to `_b`.
    assert!(h.native(None).is_none());
    h.ctx
        .eval(Source::from_bytes("g = 2; _c_init.set('k', 'cached')"))
        .expect("runs");
    let native = h.native(None).expect("a hit runs natively");
    let engine = h.engine(None);
    assert!(JsValue::same_value(&native.0, &engine.0));
    assert!(
        same_values(&native.1, &engine.1),
        "a write of the first call leaked"
    );
}
