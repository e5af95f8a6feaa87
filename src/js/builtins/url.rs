//! `URL(url, base?)`: splits a URL into read-only string fields the way Pipy does
//! (no normalisation; `protocol` defaults to `http:`, `port` to the scheme's default).

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::property::Attribute;
use boa_engine::{
    Context, Finalize, JsData, JsObject, JsResult, JsString, JsValue, NativeFunction, Trace,
    js_string,
};

use crate::js::builtins::helpers::{add_methods, with_this};
use crate::js::builtins::url_search_params::{self, UrlSearchParams};

/// The string fields of a URL, in the order of `FIELD_NAMES`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlParts {
    /// `user:password` before `@`.
    pub auth: String,
    /// `#fragment` including `#`.
    pub hash: String,
    /// `hostname[:port]` as written.
    pub host: String,
    /// Host without port (IPv6 keeps its brackets).
    pub hostname: String,
    /// The whole URL rebuilt from its parts.
    pub href: String,
    /// `protocol//host`.
    pub origin: String,
    /// Password part of `auth`.
    pub password: String,
    /// `pathname` + `search`.
    pub path: String,
    /// Path without query.
    pub pathname: String,
    /// Port as written, else the scheme's default.
    pub port: String,
    /// Scheme with its colon.
    pub protocol: String,
    /// Query without `?`.
    pub query: String,
    /// Query with `?`.
    pub search: String,
    /// User part of `auth`.
    pub username: String,
}

/// Script-visible field names, in `UrlParts` order.
const FIELD_NAMES: [&str; 14] = [
    "auth", "hash", "host", "hostname", "href", "origin", "password", "path", "pathname", "port",
    "protocol", "query", "search", "username",
];

/// Index of `search` in `FIELD_NAMES`.
const SEARCH_FIELD: usize = 12;
/// Index of `href` in `FIELD_NAMES`.
const HREF_FIELD: usize = 4;

/// The `scheme:` prefix of `url` (RFC 3986 section 3.1 characters), or "".
fn scheme_of(url: &str) -> &str {
    for (i, c) in url.char_indices() {
        match c {
            ':' if i > 0 => return &url[..=i],
            c if i == 0 && c.is_ascii_alphabetic() => {}
            c if i > 0 && (c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) => {}
            _ => break,
        }
    }
    ""
}

/// The `//authority` prefix of `rest` (slashes included), or "".
fn authority_of(rest: &str) -> &str {
    if !rest.starts_with("//") {
        return "";
    }
    let Some(start) = rest.find(|c| c != '/') else {
        return "";
    };
    match rest[start..].find('/') {
        Some(end) => &rest[..start + end],
        None => rest,
    }
}

/// Default port of a scheme (RFC 1738 section 3 for ftp/gopher, RFC 9110 for http(s),
/// RFC 6455 for ws(s)).
fn default_port(protocol: &str) -> &'static str {
    match protocol {
        "ftp:" => "21",
        "gopher:" => "70",
        "http:" | "ws:" => "80",
        "https:" | "wss:" => "443",
        _ => "",
    }
}

impl UrlParts {
    /// Splits `url`, resolving a host-less `url` against `base` when given.
    pub fn parse(url: &str, base: Option<&str>) -> Self {
        let mut protocol = scheme_of(url).to_owned();
        let rest = &url[protocol.len()..];
        let authority = authority_of(rest);
        let mut path = rest[authority.len()..].to_owned();
        let mut host = authority.trim_start_matches('/').to_owned();

        if host.is_empty()
            && let Some(base) = base.filter(|b| !b.is_empty())
        {
            protocol = scheme_of(base).to_owned();
            let base_rest = &base[protocol.len()..];
            let base_authority = authority_of(base_rest);
            let base_path = &base_rest[base_authority.len()..];
            if path.is_empty() {
                path = base_path.to_owned();
            } else if !path.starts_with('/') {
                let dir = base_path.rfind('/').map_or(base_path, |i| &base_path[..i]);
                path = format!("{dir}/{path}");
            }
            host = base_authority.trim_start_matches('/').to_owned();
        }

        let mut parts = Self::default();
        if let Some((auth, rest)) = host.split_once('@') {
            parts.auth = auth.to_owned();
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            parts.username = user.to_owned();
            parts.password = password.to_owned();
            host = rest.to_owned();
        }

        let (hostname, port) = if host.starts_with('[') {
            match host.find("]:") {
                Some(i) => (&host[..=i], &host[i + 2..]),
                None => (host.as_str(), ""),
            }
        } else {
            host.split_once(':').unwrap_or((host.as_str(), ""))
        };
        parts.hostname = hostname.to_owned();
        parts.port = port.to_owned();

        if let Some(i) = path.rfind('#') {
            parts.hash = path[i..].to_owned();
            path.truncate(i);
        }
        match path.find('?') {
            Some(i) => {
                parts.pathname = path[..i].to_owned();
                parts.search = path[i..].to_owned();
                parts.query = path[i + 1..].to_owned();
            }
            None => parts.pathname = path.clone(),
        }

        if protocol.is_empty() {
            protocol = "http:".to_owned();
        }
        if path.is_empty() {
            path = "/".to_owned();
            parts.pathname = "/".to_owned();
        }
        if parts.port.is_empty() {
            parts.port = default_port(&protocol).to_owned();
        }
        parts.origin = format!("{protocol}//{host}");
        parts.href = if parts.auth.is_empty() {
            format!("{protocol}//{host}{path}{}", parts.hash)
        } else {
            format!("{protocol}//{}@{host}{path}{}", parts.auth, parts.hash)
        };
        parts.protocol = protocol;
        parts.host = host;
        parts.path = path;
        parts
    }

    fn into_fields(self) -> [JsString; 14] {
        [
            self.auth,
            self.hash,
            self.host,
            self.hostname,
            self.href,
            self.origin,
            self.password,
            self.path,
            self.pathname,
            self.port,
            self.protocol,
            self.query,
            self.search,
            self.username,
        ]
        .map(JsString::from)
    }
}

/// Native data of a `URL` instance.
#[derive(Trace, Finalize, JsData)]
pub struct Url {
    fields: [JsString; 14],
    /// Created on first access of `searchParams`.
    search_params: Option<JsObject>,
}

fn url_search_params(this: &JsValue, _args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let (existing, search) = with_this::<Url, _>(this, "URL", "searchParams", |u| {
        (u.search_params.clone(), u.fields[SEARCH_FIELD].clone())
    })?;
    if let Some(object) = existing {
        return Ok(object.into());
    }
    let params = UrlSearchParams::parse(&search.to_std_string_lossy());
    let object = url_search_params::new_object(params, ctx)?;
    with_this::<Url, _>(this, "URL", "searchParams", |u| {
        u.search_params = Some(object.clone());
    })?;
    Ok(object.into())
}

fn url_to_string(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    with_this::<Url, _>(this, "URL", "toString", |u| {
        u.fields[HREF_FIELD].clone().into()
    })
}

impl Class for Url {
    const NAME: &'static str = "URL";
    const LENGTH: usize = 2;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        for (index, name) in FIELD_NAMES.iter().copied().enumerate() {
            let getter = NativeFunction::from_copy_closure(move |this, _args, _ctx| {
                with_this::<Url, _>(this, "URL", name, |u| u.fields[index].clone().into())
            })
            .to_js_function(&realm);
            class.accessor(
                JsString::from(name),
                Some(getter),
                None,
                Attribute::CONFIGURABLE | Attribute::ENUMERABLE,
            );
        }
        let search_params = NativeFunction::from_fn_ptr(url_search_params).to_js_function(&realm);
        class.accessor(
            js_string!("searchParams"),
            Some(search_params),
            None,
            Attribute::CONFIGURABLE | Attribute::ENUMERABLE,
        );
        add_methods(class, &[("toString", 0, url_to_string)]);
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let url = args.first().cloned().unwrap_or_default().to_string(ctx)?;
        let base = match args.get(1) {
            Some(b) if !b.is_null_or_undefined() => Some(b.to_string(ctx)?.to_std_string_lossy()),
            _ => None,
        };
        let parts = UrlParts::parse(&url.to_std_string_lossy(), base.as_deref());
        Ok(Self {
            fields: parts.into_fields(),
            search_params: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::builtins::test_support::eval_string;

    #[test]
    fn full_url() {
        let p = UrlParts::parse("https://u:pw@example.com:8443/a/b?x=1&y=2#frag", None);
        assert_eq!(p.protocol, "https:");
        assert_eq!(p.auth, "u:pw");
        assert_eq!(p.username, "u");
        assert_eq!(p.password, "pw");
        assert_eq!(p.host, "example.com:8443");
        assert_eq!(p.hostname, "example.com");
        assert_eq!(p.port, "8443");
        assert_eq!(p.path, "/a/b?x=1&y=2");
        assert_eq!(p.pathname, "/a/b");
        assert_eq!(p.search, "?x=1&y=2");
        assert_eq!(p.query, "x=1&y=2");
        assert_eq!(p.hash, "#frag");
        assert_eq!(p.origin, "https://example.com:8443");
        assert_eq!(p.href, "https://u:pw@example.com:8443/a/b?x=1&y=2#frag");
    }

    #[test]
    fn defaults() {
        let p = UrlParts::parse("//localhost", None);
        assert_eq!(
            (p.protocol.as_str(), p.port.as_str(), p.path.as_str()),
            ("http:", "80", "/")
        );
        assert_eq!(p.pathname, "/");
        assert_eq!(p.href, "http://localhost/");
        assert_eq!(UrlParts::parse("ftp://h/x", None).port, "21");
        assert_eq!(UrlParts::parse("gopher://h", None).port, "70");
        assert_eq!(UrlParts::parse("wss://h", None).port, "443");
        assert_eq!(UrlParts::parse("foo://h", None).port, "");
        let v6 = UrlParts::parse("http://[::1]:8080/x", None);
        assert_eq!((v6.hostname.as_str(), v6.port.as_str()), ("[::1]", "8080"));
    }

    #[test]
    fn relative_to_base() {
        let p = UrlParts::parse("c/d?q", Some("http://h:1/a/b"));
        assert_eq!(p.href, "http://h:1/a/c/d?q");
        let p = UrlParts::parse("/x", Some("https://h/a/b"));
        assert_eq!(
            (p.host.as_str(), p.path.as_str(), p.port.as_str()),
            ("h", "/x", "443")
        );
        let p = UrlParts::parse("", Some("https://h/a/b"));
        assert_eq!(p.path, "/a/b");
    }

    #[test]
    fn tutorial_11_fields_from_script() {
        assert_eq!(
            eval_string(
                "var u = new URL('http://127.0.0.1:8123/log?a=1&a=2');
                 [u.protocol, u.host, u.hostname, u.port, u.path, u.pathname, u.search, u.query,
                  u.origin, u.href, u.searchParams.getAll('a').join('+'),
                  u.searchParams === u.searchParams, String(u)].join(' ')"
            ),
            "http: 127.0.0.1:8123 127.0.0.1 8123 /log?a=1&a=2 /log ?a=1&a=2 a=1&a=2 \
             http://127.0.0.1:8123 http://127.0.0.1:8123/log?a=1&a=2 1+2 true \
             http://127.0.0.1:8123/log?a=1&a=2"
        );
    }
}
