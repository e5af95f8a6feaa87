//! The `http` global and its `http.File` class: static files served as messages, with their
//! pre-compressed `.gz` / `.br` variants and a content type chosen by extension.
//!
//! Paths are normalised against the codebase root (the main script's directory), never relative
//! to the calling module, and cannot climb above it (`..` stops at the root).

use super::builtins::helpers::{add_methods, define_global, register_class_into};
use super::message::JsMessage;
use crate::engine::data::Data;
use crate::engine::head::Head;
use crate::http::head::ResponseHead;
use boa_engine::class::{Class, ClassBuilder};
use boa_engine::object::ObjectInitializer;
use boa_engine::{
    Context, Finalize, JsArgs, JsData, JsNativeError, JsResult, JsValue, NativeFunction, Trace,
    js_string,
};
use bytes::Bytes;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::PathBuf;

/// Content types by lower-cased file extension, as Pipy's `http.File` knows them.
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("html", "text/html"),
    ("css", "text/css"),
    ("xml", "text/xml"),
    ("txt", "text/plain"),
    ("gif", "image/gif"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("svg", "image/svg+xml"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ico", "image/x-icon"),
    ("js", "application/javascript"),
    ("json", "application/json"),
];

/// The type of a file whose extension is not in [`CONTENT_TYPES`].
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Tried when a path names no file (e.g. a directory).
const INDEX_FILE: &str = "index.html";

/// The content type for a file name (by its last extension, case-insensitively).
pub fn content_type_of(name: &str) -> &'static str {
    let base = name.rsplit('/').next().unwrap_or(name);
    let Some((_, ext)) = base.rsplit_once('.') else {
        return DEFAULT_CONTENT_TYPE;
    };
    CONTENT_TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(DEFAULT_CONTENT_TYPE, |(_, t)| t)
}

/// A script path as a path relative to the codebase root: `.` and empty segments dropped, `..`
/// removes the previous segment but never climbs above the root.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// Where a root-relative path is on disk: against the main script's directory while the script
/// loads, else against the working directory (which the daemon sets to that directory).
fn on_disk(rel: &str) -> Option<PathBuf> {
    match super::config::module_path(rel) {
        Ok((p, _)) => Some(p),
        Err(_) => std::env::current_dir().ok().map(|d| d.join(rel)),
    }
}

fn read_file(rel: &str) -> Option<Data> {
    let path = on_disk(rel)?;
    if !std::fs::metadata(&path).ok()?.is_file() {
        return None;
    }
    std::fs::read(&path).ok().map(Data::from)
}

/// The uncompressed body, possibly obtained by decompressing the `.gz` variant.
#[derive(Clone)]
enum Plain {
    Loaded(Data),
    /// No raw file; not yet decompressed from the variant.
    NotYetDecoded,
    /// No raw file and no variant that could be decompressed.
    Unavailable,
}

/// The `Accept-Encoding` codings `toMessage` can use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub gzip: bool,
    pub br: bool,
}

/// Reads an `Accept-Encoding` value the way Pipy does: the leading token of each list item,
/// case-insensitively (quality values are not considered).
pub fn parse_accept_encoding(s: &str) -> Accepted {
    let mut a = Accepted::default();
    for item in s.split(',') {
        let token = item
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("");
        if token.eq_ignore_ascii_case("gzip") {
            a.gzip = true;
        } else if token.eq_ignore_ascii_case("br") {
            a.br = true;
        }
    }
    a
}

/// An `http.File`: a file's contents and variants, read once when the object is made.
#[derive(Trace, Finalize, JsData)]
pub struct HttpFile {
    #[unsafe_ignore_trace]
    content_type: &'static str,
    #[unsafe_ignore_trace]
    plain: Plain,
    #[unsafe_ignore_trace]
    gz: Option<Data>,
    #[unsafe_ignore_trace]
    br: Option<Data>,
}

impl HttpFile {
    /// Loads `path`, `path.gz`, `path.br`, or failing all three the same under
    /// `path/index.html`. `None` when nothing exists.
    pub fn load(path: &str) -> Option<HttpFile> {
        let rel = normalize(path);
        if let Some(f) = Self::load_exact(&rel) {
            return Some(f);
        }
        let index = if rel.is_empty() {
            INDEX_FILE.to_string()
        } else {
            format!("{rel}/{INDEX_FILE}")
        };
        Self::load_exact(&index)
    }

    fn load_exact(rel: &str) -> Option<HttpFile> {
        if rel.is_empty() {
            return None;
        }
        let raw = read_file(rel);
        let gz = read_file(&format!("{rel}.gz"));
        let br = read_file(&format!("{rel}.br"));
        if raw.is_none() && gz.is_none() && br.is_none() {
            return None;
        }
        let plain = match raw {
            Some(d) => Plain::Loaded(d),
            None if gz.is_some() => Plain::NotYetDecoded,
            None => Plain::Unavailable,
        };
        Some(HttpFile {
            content_type: content_type_of(rel),
            plain,
            gz,
            br,
        })
    }

    /// The body and `content-encoding` to answer with, or None when only an undecodable
    /// variant exists.
    fn pick(&mut self, accepted: Accepted) -> Option<(Data, Option<&'static str>)> {
        if accepted.br
            && let Some(d) = &self.br
        {
            return Some((d.clone(), Some("br")));
        }
        if accepted.gzip
            && let Some(d) = &self.gz
        {
            return Some((d.clone(), Some("gzip")));
        }
        if matches!(self.plain, Plain::NotYetDecoded) {
            self.plain = match self.gz.as_ref().and_then(gunzip) {
                Some(d) => Plain::Loaded(d),
                None => Plain::Unavailable,
            };
        }
        match &self.plain {
            Plain::Loaded(d) => Some((d.clone(), None)),
            _ => None,
        }
    }
}

fn gunzip(d: &Data) -> Option<Data> {
    let bytes = d.to_bytes();
    let mut out = Vec::new();
    match GzDecoder::new(&bytes[..]).read_to_end(&mut out) {
        Ok(_) => Some(Data::from(out)),
        Err(e) => {
            log::warn!("[http.File] cannot decompress a .gz variant: {e}");
            None
        }
    }
}

fn not_found(path: &str) -> boa_engine::JsError {
    JsNativeError::error()
        .with_message(format!("file not found: {path}"))
        .into()
}

fn path_arg(args: &[JsValue], ctx: &mut Context) -> JsResult<String> {
    Ok(args
        .get_or_undefined(0)
        .to_string(ctx)?
        .to_std_string_escaped())
}

/// `file.toMessage(acceptEncoding?)`.
fn to_message(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let accept = match args.first() {
        Some(v) if !v.is_null_or_undefined() => v.to_string(ctx)?.to_std_string_escaped(),
        _ => String::new(),
    };
    let accepted = parse_accept_encoding(&accept);
    let picked = {
        let o = this
            .as_object()
            .ok_or_else(|| JsNativeError::typ().with_message("not an http.File"))?;
        let mut f = o
            .downcast_mut::<HttpFile>()
            .ok_or_else(|| JsNativeError::typ().with_message("not an http.File"))?;
        f.pick(accepted).map(|(d, enc)| (d, enc, f.content_type))
    };
    // A native head, as in Pipy: the encoder takes it as is, and a script that reads it gets
    // the usual head object.
    let Some((body, encoding, content_type)) = picked else {
        let head = ResponseHead {
            status: 400,
            ..ResponseHead::default()
        };
        return JsMessage::new_object(Head::response(head), None, ctx);
    };
    let mut head = ResponseHead::default();
    head.headers.append(
        Bytes::from_static(b"content-type"),
        Bytes::from_static(content_type.as_bytes()),
    );
    if let Some(enc) = encoding {
        head.headers.append(
            Bytes::from_static(b"content-encoding"),
            Bytes::from_static(enc.as_bytes()),
        );
    }
    JsMessage::new_object(Head::response(head), Some(body), ctx)
}

/// `http.File.from(path)`: a File, or null when nothing is found.
fn from(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let path = path_arg(args, ctx)?;
    match HttpFile::load(&path) {
        Some(f) => Ok(HttpFile::from_data(f, ctx)?.into()),
        None => Ok(JsValue::null()),
    }
}

impl Class for HttpFile {
    const NAME: &'static str = "File";
    const LENGTH: usize = 1;

    fn data_constructor(_t: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<Self> {
        let path = path_arg(args, ctx)?;
        HttpFile::load(&path).ok_or_else(|| not_found(&path))
    }

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        add_methods(class, &[("toMessage", 1, to_message)]);
        class.static_method(js_string!("from"), 1, NativeFunction::from_fn_ptr(from));
        Ok(())
    }
}

/// Installs the `http` global (with `http.File`) into the current realm.
pub fn register(ctx: &mut Context) -> JsResult<()> {
    let http = ObjectInitializer::new(ctx).build();
    register_class_into::<HttpFile>(&http, ctx)?;
    define_global("http", http, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boa_engine::Source;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_of("www/index.html"), "text/html");
        assert_eq!(content_type_of("a/B.PNG"), "image/png");
        assert_eq!(content_type_of("x.woff2"), "font/woff2");
        assert_eq!(content_type_of("x.tar.gz"), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type_of("dir.d/README"), DEFAULT_CONTENT_TYPE);
    }

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(normalize("/www/./a//b.html"), "www/a/b.html");
        assert_eq!(normalize("www/../../../etc/passwd"), "etc/passwd");
        assert_eq!(normalize("www/"), "www");
        assert_eq!(normalize("/"), "");
    }

    #[test]
    fn accept_encoding_tokens() {
        assert_eq!(
            parse_accept_encoding("deflate, GZIP;q=0.5, br"),
            Accepted {
                gzip: true,
                br: true
            }
        );
        assert_eq!(
            parse_accept_encoding("gzipx, identity"),
            Accepted::default()
        );
        assert_eq!(parse_accept_encoding(""), Accepted::default());
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap_or_default();
        e.finish().unwrap_or_default()
    }

    /// Files are looked up against the working directory when no script is loading; the
    /// test writes under a unique directory below it and uses relative paths.
    #[test]
    fn files_variants_and_messages() {
        let dir = format!("target/http-file-test-{}", std::process::id());
        let _ = std::fs::remove_dir_all(&dir);
        let www = format!("{dir}/www");
        std::fs::create_dir_all(format!("{www}/only-gz")).unwrap_or_default();
        std::fs::write(format!("{www}/index.html"), b"<p>hi</p>").unwrap_or_default();
        std::fs::write(format!("{www}/index.html.gz"), gz(b"<p>hi</p>")).unwrap_or_default();
        std::fs::write(format!("{www}/only-gz/data.json.gz"), gz(b"{\"a\":1}")).unwrap_or_default();
        std::fs::write(format!("{www}/bad.txt.gz"), b"not gzip").unwrap_or_default();

        let mut ctx = Context::default();
        crate::js::message::register(&mut ctx).unwrap_or_default();
        register(&mut ctx).unwrap_or_default();
        let script = format!(
            "var w = '{www}';
             var f = http.File.from(w + '/');
             var m1 = f.toMessage('gzip, deflate');
             var m2 = f.toMessage();
             var j = new http.File(w + '/only-gz/data.json').toMessage('br');
             var bad = http.File.from(w + '/bad.txt').toMessage('');
             var thrown = false;
             try {{ new http.File(w + '/missing'); }} catch (e) {{ thrown = true; }}
             [http.File.from(w + '/missing') === null, thrown,
              m1.head.status, m1.head.headers['content-type'], m1.head.headers['content-encoding'],
              m1.body.size,
              m2.head.headers['content-encoding'], m2.body.toString(),
              j.head.headers['content-type'], j.body.toString(),
              bad.head.status, bad.body].join('|')"
        );
        let out = ctx
            .eval(Source::from_bytes(&script))
            .and_then(|v| v.to_string(&mut ctx))
            .map(|s| s.to_std_string_escaped())
            .unwrap_or_else(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        let gz_len = gz(b"<p>hi</p>").len();
        assert_eq!(
            out,
            format!(
                "true|true|200|text/html|gzip|{gz_len}||<p>hi</p>|application/json|{{\"a\":1}}|400|"
            )
        );
    }
}
