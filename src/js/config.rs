//! Evaluates a script (and the modules it `use`s) into a pipeline `Graph`.
//!
//! `pipy()` returns a Configuration whose methods append layouts and filters to the module being
//! evaluated. Sub-pipeline names are resolved after every module is loaded.

use super::runtime::{JsRuntime, call_site, format_error};
use super::{globals, units};
use crate::engine::filter::FilterFactory;
use crate::engine::graph::{Graph, ListenSpec, ModuleInfo, TaskSchedule, TaskSpec};
use crate::engine::pipeline::{Layout, LayoutId, LayoutKind};
use crate::filters::{self, FilterArgs};
use crate::js::builtins::helpers::add_methods;
use crate::js::pure::ParsedModule;
use crate::net::listener::ListenOptions;
use boa_engine::class::{Class, ClassBuilder};
use boa_engine::object::builtins::JsFunction;
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::realm::Realm;
use boa_engine::{
    Context, Finalize, JsArgs, JsData, JsNativeError, JsResult, JsString, JsValue, NativeFunction,
    Source, Trace, js_string,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A script evaluated and ready to run in a worker.
pub struct LoadedScript {
    pub graph: Graph,
    pub runtime: JsRuntime,
}

struct ModuleBuild {
    path: PathBuf,
    name: String,
    /// The text evaluated, for compiling its callbacks ([`crate::js::pure`]).
    source: Rc<[u8]>,
    /// `source` parsed, once the first callback needed it.
    parsed: Option<Rc<ParsedModule>>,
    var_names: Vec<String>,
    initial: Vec<JsValue>,
    /// The slot behind each context-variable accessor on the module's global object (its own
    /// variables and its imports), for compiled callbacks to read and write directly.
    var_cells: HashMap<String, SlotCell>,
    current_layout: Option<LayoutId>,
}

/// Where a context variable lives: (module, slot) in every context. An import's cell is filled in
/// when the script has loaded.
pub type SlotCell = Rc<Cell<(usize, usize)>>;

struct PendingImport {
    module: usize,
    name: String,
    ns: String,
    cell: SlotCell,
}

struct LoaderState {
    base_dir: PathBuf,
    modules: Vec<ModuleBuild>,
    realms: Vec<Realm>,
    layouts: Vec<Layout>,
    listens: Vec<ListenSpec>,
    tasks: Vec<TaskSpec>,
    reads: Vec<(LayoutId, PathBuf)>,
    exports: HashMap<(String, String), (usize, usize)>,
    imports: Vec<PendingImport>,
}

thread_local! {
    static LOADER: RefCell<Option<LoaderState>> = const { RefCell::new(None) };
}

fn with_loader<R>(f: impl FnOnce(&mut LoaderState) -> R) -> JsResult<R> {
    LOADER.with(|l| {
        let mut l = l.borrow_mut();
        match l.as_mut() {
            Some(s) => Ok(f(s)),
            None => Err(JsNativeError::error()
                .with_message("configuration is only possible while loading the script")
                .into()),
        }
    })
}

fn err_at(ctx: &Context, msg: impl std::fmt::Display) -> boa_engine::JsError {
    JsNativeError::error()
        .with_message(format!("{}: {msg}", call_site(ctx)))
        .into()
}

/// Error text for a load failure: `file:line:column: message`.
fn load_error(e: &boa_engine::JsError, ctx: &mut Context) -> String {
    let s = format_error(e, ctx);
    // Our own errors already carry their location after the error kind ("Error: f:1:2: msg").
    for kind in [
        "Error: ",
        "TypeError: ",
        "SyntaxError: ",
        "ReferenceError: ",
    ] {
        if let Some(rest) = s.strip_prefix(kind)
            && has_location_prefix(rest)
        {
            return rest.to_string();
        }
        if let Some(i) = s.find(&format!(": {kind}"))
            && has_location_prefix(&s[i + 2 + kind.len()..])
        {
            return s[i + 2 + kind.len()..].to_string();
        }
    }
    s
}

fn has_location_prefix(s: &str) -> bool {
    let mut it = s.splitn(4, ':');
    let (_f, l, c) = (it.next(), it.next(), it.next());
    matches!((l, c), (Some(l), Some(c)) if !l.is_empty() && l.chars().all(|x| x.is_ascii_digit()) && !c.is_empty() && c.chars().all(|x| x.is_ascii_digit()))
}

/// Evaluates `main` and everything it uses.
pub fn load_script(main: &Path) -> Result<LoadedScript, String> {
    let base_dir = main
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    LOADER.with(|l| {
        *l.borrow_mut() = Some(LoaderState {
            base_dir,
            modules: Vec::new(),
            realms: Vec::new(),
            layouts: Vec::new(),
            listens: Vec::new(),
            tasks: Vec::new(),
            reads: Vec::new(),
            exports: HashMap::new(),
            imports: Vec::new(),
        })
    });
    let mut ctx = Context::default();
    let result = load_module_file(&mut ctx, main.to_path_buf(), main.display().to_string())
        .map_err(|e| load_error(&e, &mut ctx));
    let state = LOADER.with(|l| l.borrow_mut().take());
    let Some(mut state) = state else {
        return Err("loader state lost".into());
    };
    result?;
    finish(&mut state)?;
    let graph = Graph {
        layouts: std::mem::take(&mut state.layouts),
        modules: state
            .modules
            .drain(..)
            .map(|m| ModuleInfo {
                name: m.name,
                var_names: m.var_names,
                initial: m.initial,
            })
            .collect(),
        listens: dedup_listens(std::mem::take(&mut state.listens)),
        tasks: std::mem::take(&mut state.tasks),
        reads: std::mem::take(&mut state.reads),
    };
    let runtime = JsRuntime::new(ctx, std::mem::take(&mut state.realms));
    Ok(LoadedScript { graph, runtime })
}

/// Two `listen`s on one address: the last wins (as in Pipy).
fn dedup_listens(all: Vec<ListenSpec>) -> Vec<ListenSpec> {
    let mut out: Vec<ListenSpec> = Vec::new();
    for spec in all {
        out.retain(|s| s.addr != spec.addr);
        out.push(spec);
    }
    out
}

/// Resolves imports and sub-pipeline names, and rejects recursive layouts.
fn finish(state: &mut LoaderState) -> Result<(), String> {
    for imp in &state.imports {
        match state.exports.get(&(imp.ns.clone(), imp.name.clone())) {
            Some(&slot) => imp.cell.set(slot),
            None => {
                return Err(format!(
                    "{}: cannot import variable {} in {}",
                    state.modules[imp.module].name, imp.name, imp.ns
                ));
            }
        }
    }
    let names: HashMap<(usize, String), LayoutId> = state
        .layouts
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l.kind, LayoutKind::Named))
        .map(|(i, l)| ((l.module, l.name.clone()), i))
        .collect();
    for layout in &mut state.layouts {
        for f in &mut layout.filters {
            for sub in f.sub_pipelines() {
                if sub.is_bypass() {
                    continue;
                }
                match names.get(&(sub.module, sub.name.clone())) {
                    Some(&id) => sub.id = Some(id),
                    None => {
                        return Err(format!(
                            "{}: pipeline not found: {}",
                            sub.location, sub.name
                        ));
                    }
                }
            }
        }
    }
    check_recursion(state)?;
    let modules: Vec<String> = state.modules.iter().map(|m| m.name.clone()).collect();
    crate::engine::plan::plan_layouts(&mut state.layouts, &modules);
    Ok(())
}

fn check_recursion(state: &mut LoaderState) -> Result<(), String> {
    let edges: Vec<Vec<(LayoutId, String)>> = state
        .layouts
        .iter_mut()
        .map(|l| {
            l.filters
                .iter_mut()
                .flat_map(|f| {
                    f.sub_pipelines()
                        .into_iter()
                        .filter_map(|s| s.id.map(|id| (id, s.location.clone())))
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect();
    // 0 = unvisited, 1 = on stack, 2 = done
    let mut mark = vec![0u8; edges.len()];
    fn visit(
        n: usize,
        edges: &[Vec<(LayoutId, String)>],
        mark: &mut [u8],
        names: &[String],
    ) -> Result<(), String> {
        mark[n] = 1;
        for (m, loc) in &edges[n] {
            match mark[*m] {
                1 => return Err(format!("{loc}: recursive pipeline: {}", names[*m])),
                0 => visit(*m, edges, mark, names)?,
                _ => {}
            }
        }
        mark[n] = 2;
        Ok(())
    }
    let names: Vec<String> = state.layouts.iter().map(|l| l.name.clone()).collect();
    for n in 0..edges.len() {
        if mark[n] == 0 {
            visit(n, &edges, &mut mark, &names)?;
        }
    }
    Ok(())
}

/// The source text of module `module`, while the script is loading.
pub fn module_source(module: usize) -> Option<Rc<[u8]>> {
    with_loader(|s| s.modules.get(module).map(|m| m.source.clone()))
        .ok()
        .flatten()
}

/// The source text of module `module` parsed for compiling its callbacks, while the script is
/// loading; parsed once per module, however many callbacks it has.
pub fn parsed_module(module: usize) -> Option<Rc<ParsedModule>> {
    let cached = with_loader(|s| s.modules.get(module).and_then(|m| m.parsed.clone()));
    if let Ok(Some(parsed)) = cached {
        return Some(parsed);
    }
    let parsed = Rc::new(ParsedModule::parse(&module_source(module)?)?);
    let _ = with_loader(|s| {
        if let Some(m) = s.modules.get_mut(module) {
            m.parsed = Some(parsed.clone());
        }
    });
    Some(parsed)
}

/// Loads a module file once; returns its index. Evaluated in a realm of its own.
pub fn load_module_file(ctx: &mut Context, path: PathBuf, name: String) -> JsResult<usize> {
    let existing = with_loader(|s| s.modules.iter().position(|m| m.path == path))?;
    if let Some(i) = existing {
        return Ok(i);
    }
    let src = std::fs::read(&path).map_err(|e| {
        JsNativeError::error().with_message(format!("cannot read {}: {e}", path.display()))
    })?;
    // The main script uses the context's own realm: every realm adds its intrinsics to what
    // each garbage collection marks, so an unused default realm would cost on every request.
    let first = with_loader(|s| s.modules.is_empty())?;
    let realm = if first {
        ctx.realm().clone()
    } else {
        ctx.create_realm()?
    };
    let index = with_loader(|s| {
        s.modules.push(ModuleBuild {
            path: path.clone(),
            name: name.clone(),
            source: Rc::from(src.as_slice()),
            parsed: None,
            var_names: Vec::new(),
            var_cells: HashMap::new(),
            initial: Vec::new(),
            current_layout: None,
        });
        s.realms.push(realm.clone());
        s.modules.len() - 1
    })?;
    let prev = ctx.enter_realm(realm);
    let result = (|| -> JsResult<JsValue> {
        install_module_globals(ctx, index, &name)?;
        ctx.eval(Source::from_bytes(&src).with_path(&path))
    })();
    ctx.enter_realm(prev);
    let value = result.map_err(|e| locate_error(e, &name, &src, ctx))?;
    let is_config = value
        .as_object()
        .is_some_and(|o| o.downcast_ref::<Configuration>().is_some());
    if !is_config {
        return Err(JsNativeError::error()
            .with_message(format!(
                "{name}:1:1: Script was not evaluated to Configuration"
            ))
            .into());
    }
    Ok(index)
}

/// Gives an evaluation error a `file:line:column:` prefix: boa reports syntax errors as
/// "... at line L, col C", and an unknown Configuration method only as "not a callable function".
fn locate_error(
    e: boa_engine::JsError,
    name: &str,
    src: &[u8],
    ctx: &mut Context,
) -> boa_engine::JsError {
    let text = format_error(&e, ctx);
    if text.starts_with(name) || has_location_prefix(text.split_once(": ").map_or("", |x| x.1)) {
        return with_method_name(e, &text, src);
    }
    let (msg, loc) = match text.rfind(" at line ") {
        Some(i) => {
            let rest = &text[i + " at line ".len()..];
            let mut nums = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            match (nums.next(), nums.next()) {
                (Some(l), Some(c)) => (text[..i].to_string(), format!("{name}:{l}:{c}")),
                _ => (text.clone(), format!("{name}:1:1")),
            }
        }
        None => {
            let (l, c) = guess_position(&text, src);
            (text.clone(), format!("{name}:{l}:{c}"))
        }
    };
    let msg = msg.replace(" (native)", "");
    JsNativeError::error()
        .with_message(format!("{loc}: {msg}"))
        .into()
}

/// boa gives no position for some syntax errors: point at the end of the script for an abrupt
/// end, at the opening quote of an unterminated string.
fn guess_position(text: &str, src: &[u8]) -> (usize, usize) {
    let src = String::from_utf8_lossy(src);
    if text.contains("unterminated string") {
        for (n, line) in src.lines().enumerate() {
            let mut open: Option<(char, usize)> = None;
            let mut escaped = false;
            for (i, ch) in line.char_indices() {
                match open {
                    Some((q, _)) if !escaped && ch == q => open = None,
                    Some(_) => escaped = !escaped && ch == '\\',
                    None if ch == '"' || ch == '\'' => open = Some((ch, i)),
                    None if ch == '/' && line[i..].starts_with("//") => break,
                    None => {}
                }
                if open.is_none() {
                    escaped = false;
                }
            }
            if let Some((_, i)) = open {
                return (n + 1, i + 1);
            }
        }
    }
    if text.contains("abrupt end") {
        let lines: Vec<&str> = src.lines().collect();
        if let Some((n, l)) = lines
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| !l.trim().is_empty())
        {
            return (n + 1, l.len() + 1);
        }
    }
    (1, 1)
}

/// For "not a callable function" at `file:line:col`, names the method the script called.
fn with_method_name(e: boa_engine::JsError, text: &str, src: &[u8]) -> boa_engine::JsError {
    if !text.contains("not a callable function") {
        return e;
    }
    let mut parts = text.splitn(4, ':');
    let (Some(file), Some(line), Some(col)) = (parts.next(), parts.next(), parts.next()) else {
        return e;
    };
    let (Ok(line), Ok(col)) = (line.parse::<usize>(), col.parse::<usize>()) else {
        return e;
    };
    let src = String::from_utf8_lossy(src);
    let Some(l) = src.lines().nth(line.saturating_sub(1)) else {
        return e;
    };
    // The last `.name(` that starts at or before the reported column.
    let bytes = l.as_bytes();
    let mut best: Option<&str> = None;
    for (i, _) in l.match_indices('.') {
        let ident_end = bytes[i + 1..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$'))
            .map_or(l.len(), |p| i + 1 + p);
        if ident_end > i + 1 && bytes.get(ident_end) == Some(&b'(') && i < col.max(1) + 1 {
            best = Some(&l[i + 1..ident_end]);
        }
    }
    let Some(method) = best else {
        return e;
    };
    JsNativeError::typ()
        .with_message(format!(
            "{file}:{line}:{col}: unknown filter or method: {method}()"
        ))
        .into()
}

/// Resolves a module path written in a script against the main script's directory.
pub fn module_path(rel: &str) -> JsResult<(PathBuf, String)> {
    with_loader(|s| {
        let p = s.base_dir.join(rel.trim_start_matches('/'));
        (p.clone(), p.display().to_string())
    })
}

fn install_module_globals(ctx: &mut Context, module: usize, name: &str) -> JsResult<()> {
    ctx.register_global_class::<Configuration>()?;
    super::message::register(ctx)?;
    super::builtins::register_builtins(ctx)?;
    // `pipy(vars)` of this module; the globals add `pipy.load` and the others onto it.
    let pipy = NativeFunction::from_copy_closure(move |_, args, ctx| pipy_call(module, args, ctx))
        .to_js_function(ctx.realm());
    globals::register(ctx, pipy.into(), name)
}

/// `pipy(vars)`: declares the module's context variables; returns its Configuration.
fn pipy_call(module: usize, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let mut vars = args.get_or_undefined(0).clone();
    if let Some(f) = vars.as_callable() {
        vars = f.call(&JsValue::undefined(), &[], ctx)?;
    }
    if let Some(o) = vars.as_object() {
        for key in o.own_property_keys(ctx)? {
            let PropertyKey::String(k) = &key else {
                continue;
            };
            let v = o.get(key.clone(), ctx)?;
            declare_var(ctx, module, &k.to_std_string_escaped(), v)?;
        }
    }
    let obj = Configuration::from_data(Configuration { module }, ctx)?;
    Ok(obj.into())
}

/// Adds a context variable slot to `module` and its accessor on the realm's global.
fn declare_var(ctx: &mut Context, module: usize, name: &str, init: JsValue) -> JsResult<usize> {
    let dup = with_loader(|s| s.modules[module].var_names.iter().any(|n| n == name))?;
    if dup {
        return Err(err_at(ctx, format!("duplicated variable: {name}")));
    }
    let slot = with_loader(|s| {
        let m = &mut s.modules[module];
        m.var_names.push(name.to_string());
        m.initial.push(init);
        m.var_names.len() - 1
    })?;
    let cell: SlotCell = Rc::new(Cell::new((module, slot)));
    define_accessor(ctx, module, name, cell)?;
    Ok(slot)
}

/// The slot cell of context variable `name` as module `module`'s scripts see it, while the
/// script is loading.
pub fn context_var(module: usize, name: &str) -> Option<SlotCell> {
    with_loader(|s| s.modules.get(module)?.var_cells.get(name).cloned())
        .ok()
        .flatten()
}

fn define_accessor(ctx: &mut Context, module: usize, name: &str, cell: SlotCell) -> JsResult<()> {
    with_loader(|s| {
        if let Some(m) = s.modules.get_mut(module) {
            m.var_cells.insert(name.to_owned(), cell.clone());
        }
    })?;
    install_context_var(ctx, name, cell)
}

/// Defines global `name` of the context's realm as an accessor of the slot `cell` names in the
/// current context (non-configurable: a script cannot replace it, which compiled callbacks rely
/// on).
pub fn install_context_var(ctx: &mut Context, name: &str, cell: SlotCell) -> JsResult<()> {
    let c1 = cell.clone();
    // SAFETY: the closures capture only an `Rc<Cell<(usize, usize)>>`, which holds no GC values.
    let getter = unsafe {
        NativeFunction::from_closure(move |_, _, _| {
            let (m, s) = c1.get();
            Ok(crate::engine::context::with_current(|c| {
                c.map(|c| c.get(m, s)).unwrap_or_default()
            }))
        })
    }
    .to_js_function(ctx.realm());
    let c2 = cell;
    // SAFETY: as above.
    let setter = unsafe {
        NativeFunction::from_closure(move |_, args, _| {
            let (m, s) = c2.get();
            let v = args.get_or_undefined(0).clone();
            crate::engine::context::with_current(|c| {
                if let Some(c) = c {
                    c.set(m, s, v);
                }
            });
            Ok(JsValue::undefined())
        })
    }
    .to_js_function(ctx.realm());
    let desc = PropertyDescriptor::builder()
        .get(getter)
        .set(setter)
        .enumerable(false)
        .configurable(false)
        .build();
    ctx.global_object()
        .define_property_or_throw(JsString::from(name), desc, ctx)?;
    Ok(())
}

/// The object `pipy()` returns.
#[derive(Trace, Finalize, JsData)]
pub struct Configuration {
    #[unsafe_ignore_trace]
    module: usize,
}

fn this_module(this: &JsValue) -> JsResult<usize> {
    this.as_object()
        .and_then(|o| o.downcast_ref::<Configuration>().map(|c| c.module))
        .ok_or_else(|| {
            JsNativeError::typ()
                .with_message("not a Configuration")
                .into()
        })
}

fn new_layout(module: usize, name: String, kind: LayoutKind) -> JsResult<LayoutId> {
    with_loader(|s| {
        s.layouts.push(Layout {
            name,
            kind,
            module,
            filters: Vec::new(),
            plan: Vec::new(),
        });
        let id = s.layouts.len() - 1;
        s.modules[module].current_layout = Some(id);
        id
    })
}

fn js_string_arg(v: &JsValue, ctx: &mut Context) -> JsResult<String> {
    Ok(v.to_string(ctx)?.to_std_string_escaped())
}

impl Class for Configuration {
    const NAME: &'static str = "Configuration";

    fn data_constructor(_t: &JsValue, _a: &[JsValue], _c: &mut Context) -> JsResult<Self> {
        Err(JsNativeError::typ()
            .with_message("use pipy() to create a Configuration")
            .into())
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(
            class,
            &[
                ("listen", 2, cfg_listen),
                ("pipeline", 1, cfg_pipeline),
                ("task", 1, cfg_task),
                ("read", 1, cfg_read),
                ("export", 2, cfg_export),
                ("import", 1, cfg_import),
            ],
        );
        for (i, spec) in filters::all().iter().enumerate() {
            class.method(
                JsString::from(spec.name),
                0,
                NativeFunction::from_copy_closure(move |this, args, ctx| {
                    cfg_filter(i, this, args, ctx)
                }),
            );
        }
        Ok(())
    }
}

fn cfg_listen(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let a = args.get_or_undefined(0);
    let text = if a.is_number() {
        let n = a.to_number(ctx)?;
        if n == 0.0 {
            // Port 0/falsy: skipped silently, but filters still need a layout to land in.
            new_layout(module, "(disabled listen)".into(), LayoutKind::Named)?;
            return Ok(this.clone());
        }
        format!("{}", n as u64)
    } else if a.is_null_or_undefined() || (a.is_string() && js_string_arg(a, ctx)?.is_empty()) {
        new_layout(module, "(disabled listen)".into(), LayoutKind::Named)?;
        return Ok(this.clone());
    } else {
        js_string_arg(a, ctx)?
    };
    let addr = crate::net::addr::parse_listen(&text).map_err(|e| err_at(ctx, e))?;
    let mut options = ListenOptions::default();
    if let Some(o) = args.get_or_undefined(1).as_object() {
        let mc = o.get(js_string!("maxConnections"), ctx)?;
        if let Some(n) = mc.as_number()
            && n > 0.0
        {
            options.max_connections = Some(n as usize);
        }
        let idle = o.get(js_string!("idleTimeout"), ctx)?;
        if !idle.is_undefined() {
            options.socket.idle_timeout = units::seconds(&idle, ctx)?;
        }
        options.socket.read_timeout = units::seconds(&o.get(js_string!("readTimeout"), ctx)?, ctx)?;
        options.socket.write_timeout =
            units::seconds(&o.get(js_string!("writeTimeout"), ctx)?, ctx)?;
    }
    let display = format!("{} at {}", addr.port(), addr.ip());
    let layout = new_layout(
        module,
        format!("Listen on {display}"),
        LayoutKind::Listen(display),
    )?;
    with_loader(|s| {
        s.listens.push(ListenSpec {
            addr,
            layout,
            options,
        })
    })?;
    Ok(this.clone())
}

fn cfg_pipeline(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let name = js_string_arg(args.get_or_undefined(0), ctx)?;
    if name.is_empty() {
        return Err(err_at(ctx, "pipeline name must not be empty"));
    }
    // Duplicate names: the last definition wins.
    with_loader(|s| {
        for l in &mut s.layouts {
            if l.module == module && matches!(l.kind, LayoutKind::Named) && l.name == name {
                l.name = format!("{name} (replaced)");
            }
        }
    })?;
    new_layout(module, name, LayoutKind::Named)?;
    Ok(this.clone())
}

fn cfg_task(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let a = args.get_or_undefined(0);
    let when = if a.is_undefined() {
        String::new()
    } else {
        js_string_arg(a, ctx)?
    };
    let schedule = if when.is_empty() {
        TaskSchedule::Once
    } else if when.starts_with(|c: char| c.is_ascii_digit()) {
        let d = units::parse_seconds_str(&when)
            .filter(|d| d.as_secs_f64() >= 0.01 && d.as_secs_f64() <= 86400.0)
            .ok_or_else(|| err_at(ctx, format!("invalid task interval: {when}")))?;
        TaskSchedule::Every(d)
    } else {
        let sig = signal_number(&when).ok_or_else(|| err_at(ctx, "invalid signal name"))?;
        TaskSchedule::Signal(sig)
    };
    let layout = new_layout(module, format!("Task {when}"), LayoutKind::Task(when))?;
    with_loader(|s| s.tasks.push(TaskSpec { layout, schedule }))?;
    Ok(this.clone())
}

fn signal_number(name: &str) -> Option<i32> {
    use signal_hook::consts::*;
    Some(match name {
        "SIGHUP" => SIGHUP,
        "SIGINT" => SIGINT,
        "SIGQUIT" => SIGQUIT,
        "SIGTERM" => SIGTERM,
        "SIGALRM" => SIGALRM,
        "SIGCHLD" => SIGCHLD,
        "SIGWINCH" => SIGWINCH,
        "SIGTSTP" => SIGTSTP,
        "SIGCONT" => SIGCONT,
        "SIGPIPE" => SIGPIPE,
        "SIGURG" => SIGURG,
        "SIGIO" => SIGIO,
        "SIGPROF" => SIGPROF,
        "SIGVTALRM" => SIGVTALRM,
        "SIGXCPU" => SIGXCPU,
        "SIGXFSZ" => SIGXFSZ,
        "SIGTTIN" => SIGTTIN,
        "SIGTTOU" => SIGTTOU,
        _ => return None,
    })
}

fn cfg_read(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let p = js_string_arg(args.get_or_undefined(0), ctx)?;
    let (path, _) = module_path(&p)?;
    let layout = new_layout(module, format!("Read {p}"), LayoutKind::Read(p))?;
    with_loader(|s| s.reads.push((layout, path)))?;
    Ok(this.clone())
}

fn cfg_export(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let ns = js_string_arg(args.get_or_undefined(0), ctx)?;
    if ns.is_empty() {
        return Err(err_at(ctx, "namespace must not be empty"));
    }
    let Some(vars) = args.get_or_undefined(1).as_object() else {
        return Err(err_at(ctx, "export() expects an object of variables"));
    };
    for key in vars.own_property_keys(ctx)? {
        let PropertyKey::String(k) = &key else {
            continue;
        };
        let name = k.to_std_string_escaped();
        let v = vars.get(key.clone(), ctx)?;
        let slot = declare_var(ctx, module, &name, v)?;
        let dup = with_loader(|s| {
            s.exports
                .insert((ns.clone(), name.clone()), (module, slot))
                .is_some()
        })?;
        if dup {
            return Err(err_at(ctx, format!("duplicated export: {ns}.{name}")));
        }
    }
    Ok(this.clone())
}

fn cfg_import(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let Some(vars) = args.get_or_undefined(0).as_object() else {
        return Err(err_at(ctx, "import() expects an object of variables"));
    };
    for key in vars.own_property_keys(ctx)? {
        let PropertyKey::String(k) = &key else {
            continue;
        };
        let name = k.to_std_string_escaped();
        let ns = js_string_arg(&vars.get(key.clone(), ctx)?, ctx)?;
        let cell: SlotCell = Rc::new(Cell::new((usize::MAX, usize::MAX)));
        define_accessor(ctx, module, &name, cell.clone())?;
        with_loader(|s| {
            s.imports.push(PendingImport {
                module,
                name,
                ns,
                cell,
            })
        })?;
    }
    Ok(this.clone())
}

fn cfg_filter(i: usize, this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let module = this_module(this)?;
    let spec = &filters::all()[i];
    let layout = with_loader(|s| s.modules[module].current_layout)?;
    let Some(layout) = layout else {
        return Err(err_at(ctx, format!("{}: no pipeline found", spec.name)));
    };
    let location = call_site(ctx);
    let factory: Box<dyn FilterFactory> = {
        let mut fa = FilterArgs {
            args,
            ctx,
            module,
            location: location.clone(),
        };
        (spec.build)(&mut fa).map_err(|e| {
            boa_engine::JsError::from(
                JsNativeError::error().with_message(format!("{location}: {}: {e}", spec.name)),
            )
        })?
    };
    with_loader(|s| s.layouts[layout].filters.push(factory))?;
    Ok(this.clone())
}

/// Loads a module for `use()` while the caller's script is being evaluated.
pub fn use_module(ctx: &mut Context, rel: &str) -> JsResult<usize> {
    let (path, name) = module_path(rel)?;
    load_module_file(ctx, path, name)
}

/// Whether module `m` has a named layout `name` (for `use` stage selection).
pub fn module_has_layout(m: usize, name: &str) -> JsResult<bool> {
    with_loader(|s| {
        s.layouts
            .iter()
            .any(|l| l.module == m && matches!(l.kind, LayoutKind::Named) && l.name == name)
    })
}

/// A function argument, if it is one.
pub fn as_function(v: &JsValue) -> Option<JsFunction> {
    v.as_object().and_then(JsFunction::from_object)
}
