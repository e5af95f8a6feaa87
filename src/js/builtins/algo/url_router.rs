//! `algo.URLRouter(rules?)`: maps `[host]/path` patterns to values.
//!
//! Patterns are split into a trie when added, so `find(host, path)` (run per request) walks
//! the trie over slices of one reused buffer. Trie layout (as in Pipy): host labels left to
//! right (`*` first for `*.example.com`), then a `/` node; below it, exact patterns hang as a
//! single child named by the whole path (`/echo`), prefix patterns (`/hi/*`) as one child
//! per segment ending in a `*` node that holds the value.
//!
//! Lookup order: the request host, then the `*.` wildcard of its parent domain, then
//! host-less rules; within one host, an exact path beats the longest matching prefix.
//! Host names compare ASCII-case-insensitively (Pipy compares them case-sensitively).

use rustc_hash::FxHashMap;

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::string::JsStrVariant;
use boa_engine::{Context, Finalize, JsData, JsResult, JsValue, Trace};

use crate::js::builtins::helpers::{add_methods, own_entries, plain_error, with_this};

/// Index of the trie's root node.
const ROOT: usize = 0;
/// Name of the node separating the host part from the path part.
const PATH_NODE: &str = "/";
/// Name of the node holding a prefix rule's value.
const ANY_NODE: &str = "*";

/// One trie node; `value` indexes `UrlRouter::values`.
#[derive(Default)]
struct Node {
    children: FxHashMap<Box<str>, usize>,
    value: Option<usize>,
}

/// Native data of an `algo.URLRouter` instance.
#[derive(Trace, Finalize, JsData)]
pub struct UrlRouter {
    #[unsafe_ignore_trace]
    nodes: Vec<Node>,
    values: Vec<JsValue>,
    /// Reused for joining `find` arguments, so lookups do not allocate.
    #[unsafe_ignore_trace]
    scratch: String,
    /// Whether any rule names a host: without one, `find` goes straight to the path rules
    /// (a gateway's router usually has paths only).
    #[unsafe_ignore_trace]
    host_rules: bool,
}

impl Default for UrlRouter {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
            values: Vec::new(),
            scratch: String::new(),
            host_rules: false,
        }
    }
}

/// Why a pattern was rejected.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidPattern;

impl UrlRouter {
    fn child(&self, node: usize, name: &str) -> Option<usize> {
        self.nodes.get(node)?.children.get(name).copied()
    }

    fn child_or_insert(&mut self, node: usize, name: &str) -> usize {
        if let Some(c) = self.child(node, name) {
            return c;
        }
        let index = self.nodes.len();
        self.nodes.push(Node::default());
        self.nodes[node].children.insert(name.into(), index);
        index
    }

    fn value_at(&self, node: usize) -> Option<&JsValue> {
        self.nodes.get(node)?.value.and_then(|v| self.values.get(v))
    }

    fn set_value(&mut self, node: usize, value: JsValue) {
        match self.nodes[node].value {
            Some(v) => self.values[v] = value,
            None => {
                self.values.push(value);
                self.nodes[node].value = Some(self.values.len() - 1);
            }
        }
    }

    /// Adds (or replaces) the rule for `pattern`.
    pub fn add(&mut self, pattern: &str, value: JsValue) -> Result<(), InvalidPattern> {
        let slash = pattern.find('/').ok_or(InvalidPattern)?;
        let (host, path) = pattern.split_at(slash);
        if host.contains(':') {
            return Err(InvalidPattern);
        }
        let mut node = ROOT;
        if !host.is_empty() {
            self.host_rules = true;
            for label in host.split('.') {
                node = self.child_or_insert(node, &label.to_ascii_lowercase());
            }
        }
        node = self.child_or_insert(node, PATH_NODE);
        let is_prefix = path.rsplit('/').next() == Some(ANY_NODE);
        if is_prefix {
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                node = self.child_or_insert(node, segment);
            }
        } else {
            node = self.child_or_insert(node, path);
        }
        self.set_value(node, value);
        Ok(())
    }

    /// Below a `/` node: the exact rule for `path`, else the longest prefix rule.
    fn match_path(&self, slash_node: usize, path: &str) -> Option<usize> {
        if let Some(exact) = self.child(slash_node, path)
            && self.nodes[exact].value.is_some()
        {
            return Some(exact);
        }
        self.match_prefix(slash_node, &path[1..])
    }

    /// Walks whole segments of `rest` (path without its leading `/`), remembering the
    /// deepest `*` rule passed.
    fn match_prefix(&self, node: usize, rest: &str) -> Option<usize> {
        let (segment, tail) = match find_byte(rest, b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(c) = self.child(node, segment) {
            let deeper = match tail {
                Some(t) if !t.is_empty() => self.match_prefix(c, t),
                _ => self.child(c, ANY_NODE),
            };
            if deeper.is_some() {
                return deeper;
            }
        }
        self.child(node, ANY_NODE)
    }

    /// Follows host labels from `node`; then matches `path` below their `/` node.
    fn match_host(&self, mut node: usize, host: &str, path: &str) -> Option<usize> {
        for label in split_at_byte(host, b'.') {
            node = self.child(node, label)?;
        }
        let slash = self.child(node, PATH_NODE)?;
        self.match_path(slash, path)
    }

    /// Finds the rule for a joined `host[:port]/path[?query]` string.
    pub fn find(&self, url: &str) -> Option<&JsValue> {
        let path_start = find_byte(url, b'/')?;
        let path_end = find_byte(&url[path_start..], b'?').map_or(url.len(), |i| path_start + i);
        let path = &url[path_start..path_end];
        let host_port = &url[..path_start];
        let host = host_port
            .bytes()
            .rposition(|b| b == b':')
            .map_or(host_port, |i| &host_port[..i]);

        let mut found = None;
        if !host.is_empty() && self.host_rules {
            found = self.match_host(ROOT, host, path);
            if found.is_none()
                && let (Some(dot), Some(any)) = (find_byte(host, b'.'), self.child(ROOT, ANY_NODE))
            {
                found = self.match_host(any, &host[dot + 1..], path);
            }
        }
        if found.is_none() {
            let slash = self.child(ROOT, PATH_NODE)?;
            found = self.match_path(slash, path);
        }
        found.and_then(|node| self.value_at(node))
    }

    /// Joins `find` arguments like Pipy's `path_join` (see [`join_url_part`]).
    fn join_into(out: &mut String, args: &[JsValue], ctx: &mut Context) -> JsResult<()> {
        out.clear();
        for arg in args.iter().filter(|a| !a.is_null_or_undefined()) {
            let s = match arg.as_string() {
                Some(s) => s,
                None => arg.to_string(ctx)?,
            };
            match s.as_str().variant() {
                JsStrVariant::Latin1(b) if b.is_ascii() => {
                    join_url_part(out, std::str::from_utf8(b).unwrap_or_default())
                }
                _ => join_url_part(out, &s.to_std_string_lossy()),
            }
        }
        Ok(())
    }

    /// Finds the rule for a URL joined with [`join_url_part`], lower-casing its host first.
    pub fn find_joined(&self, url: &mut str) -> Option<&JsValue> {
        if self.host_rules {
            let host_end = find_byte(url, b'/').unwrap_or(url.len());
            url[..host_end].make_ascii_lowercase();
        }
        self.find(url)
    }
}

/// Where ASCII byte `b` first occurs in `s` (a character boundary, as `b` is ASCII). `find` runs
/// per request over a URL of a few dozen bytes, where `str::find`'s `memchr` set-up cost more
/// than this loop.
fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// `s.split(b)` for an ASCII byte `b`, without `str::split`'s searcher.
fn split_at_byte(s: &str, b: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_byte(r, b) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Appends one `find` argument to `out` like Pipy's `path_join`: one `/` between parts, and an
/// empty first part does not count.
pub fn join_url_part(out: &mut String, part: &str) {
    if out.is_empty() {
        out.push_str(part);
        return;
    }
    match (out.ends_with('/'), part.strip_prefix('/')) {
        (true, Some(rest)) => out.push_str(rest),
        (false, None) => {
            out.push('/');
            out.push_str(part);
        }
        _ => out.push_str(part),
    }
}

fn router_add(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let pattern = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    let value = args.get(1).cloned().unwrap_or_default();
    let pattern = pattern.to_std_string_lossy();
    with_this::<UrlRouter, _>(this, "URLRouter", "add", |r| r.add(&pattern, value))?
        .map_err(|_| plain_error("invalid URL pattern"))?;
    Ok(JsValue::undefined())
}

fn router_find(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    // Take the buffer out so the joined URL can be built while scripts may run (toString).
    let mut buffer = with_this::<UrlRouter, _>(this, "URLRouter", "find", |r| {
        std::mem::take(&mut r.scratch)
    })?;
    UrlRouter::join_into(&mut buffer, args, ctx)?;
    with_this::<UrlRouter, _>(this, "URLRouter", "find", |r| {
        let found = r.find_joined(&mut buffer).cloned().unwrap_or_default();
        r.scratch = buffer;
        found
    })
}

impl Class for UrlRouter {
    const NAME: &'static str = "URLRouter";
    const LENGTH: usize = 1;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(class, &[("add", 2, router_add), ("find", 2, router_find)]);
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let mut router = Self::default();
        if let Some(rules) = args.first().and_then(JsValue::as_object) {
            for (pattern, value) in own_entries(&rules, ctx)? {
                router
                    .add(&pattern.to_std_string_lossy(), value)
                    .map_err(|_| plain_error("invalid URL pattern"))?;
            }
        }
        Ok(router)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    fn router(rules: &[(&str, i32)]) -> UrlRouter {
        let mut r = UrlRouter::default();
        for (p, v) in rules {
            assert_eq!(r.add(p, JsValue::new(*v)), Ok(()), "{p}");
        }
        r
    }

    fn find(r: &UrlRouter, url: &str) -> Option<i32> {
        r.find(url).and_then(JsValue::as_i32)
    }

    #[test]
    fn byte_splitting_matches_str_split() {
        for s in ["", ".", "a", "a.b", ".a.", "a..b", "é.ü.x", "127.0.0.1"] {
            assert_eq!(
                split_at_byte(s, b'.').collect::<Vec<_>>(),
                s.split('.').collect::<Vec<_>>(),
                "{s:?}"
            );
            assert_eq!(find_byte(s, b'.'), s.find('.'), "{s:?}");
        }
    }

    #[test]
    fn exact_and_prefix_paths() {
        let r = router(&[("/hi/*", 1), ("/echo", 2), ("/ip/*", 3)]);
        for (url, want) in [
            ("/hi", Some(1)),
            ("/hi/", Some(1)),
            ("/hi/x/y", Some(1)),
            ("/hij", None),
            ("/echo", Some(2)),
            ("/echo/x", None),
            ("/ip/a", Some(3)),
            ("/bad/path", None),
            ("localhost:8000/hi/there?x=1", Some(1)),
            ("localhost/echo?q", Some(2)),
            ("nopath", None),
        ] {
            assert_eq!(find(&r, url), want, "{url}");
        }
    }

    #[test]
    fn longest_prefix_wins_and_root_wildcard() {
        let r = router(&[("/*", 1), ("/a/*", 2), ("/a/b/*", 3), ("/a/b", 4)]);
        assert_eq!(find(&r, "/"), Some(1));
        assert_eq!(find(&r, "/z"), Some(1));
        assert_eq!(find(&r, "/a/x"), Some(2));
        assert_eq!(find(&r, "/a/b/c/d"), Some(3));
        assert_eq!(find(&r, "/a/b"), Some(4));
        assert_eq!(find(&r, "/a/bc"), Some(2));
    }

    #[test]
    fn host_then_wildcard_then_hostless() {
        let r = router(&[
            ("example.com/api/*", 1),
            ("*.example.com/api/*", 2),
            ("/api/*", 3),
            ("example.com/only", 4),
        ]);
        assert_eq!(find(&r, "example.com/api/x"), Some(1));
        // `find` expects the host already lower-cased (the JS wrapper does it).
        assert_eq!(find(&r, "Example.COM:8080/only"), None);
        assert_eq!(find(&r, "a.example.com/api/x"), Some(2));
        assert_eq!(find(&r, "a.b.example.com/api/x"), Some(3));
        assert_eq!(find(&r, "other.org/api"), Some(3));
        assert_eq!(find(&r, "example.com/only"), Some(4));
        // host-specific path miss falls back to host-less rules
        assert_eq!(find(&r, "example.com/api"), Some(1));
        assert_eq!(find(&r, "example.com/zzz"), None);
    }

    #[test]
    fn invalid_patterns() {
        let mut r = UrlRouter::default();
        assert_eq!(r.add("nopath", JsValue::undefined()), Err(InvalidPattern));
        assert_eq!(
            r.add("host:80/x", JsValue::undefined()),
            Err(InvalidPattern)
        );
    }

    #[test]
    fn script_api() {
        assert_eq!(
            eval_string(
                "var r = new algo.URLRouter({'/hi/*': 'hi', '/echo': 'echo'});
                 r.add('api.example.com/*', {service: 'api'});
                 [r.find('localhost:8000', '/hi/there'), r.find('x', '/echo'),
                  String(r.find('x', '/echo/1')), r.find('API.example.com:443', '/v1').service,
                  r.find('/hi'), String(r.find(undefined, null)), r.find(null, '/echo?x=1')].join(',')"
            ),
            "hi,echo,undefined,api,hi,undefined,echo"
        );
        assert!(eval_bool(
            "try { new algo.URLRouter({'a:1/x': 1}); false } catch (e) { e.message === 'invalid URL pattern' }"
        ));
        // Joining: one slash between host and path whether either side brings it, non-ASCII
        // paths, and a number taken as its string ("1" has no path, so no rule matches).
        assert_eq!(
            eval_string(
                "var r = new algo.URLRouter({'h/a/*': 'a', 'h/é/*': 'e', '/1': 'one'});
                 [r.find('h/', '/a/x'), r.find('h', 'a/x'), r.find('h/', 'a'), r.find('H', '/é/x'),
                  String(r.find('h', '/b')), r.find(null, '/1'), String(r.find(null, 1))].join(',')"
            ),
            "a,a,a,e,undefined,one,undefined"
        );
        assert!(eval_bool(
            "var r = new algo.URLRouter(); try { r.add('nopath', 1); false } catch (e) { e.message === 'invalid URL pattern' }"
        ));
    }
}
