//! Small conversions shared by the builtin classes: argument access, `this` downcasts,
//! value keys for hash maps, string bytes and class registration into a namespace.

use std::hash::{Hash, Hasher};

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::native_function::NativeFunctionPointer;
use boa_engine::object::NativeObject;
use boa_engine::property::{PropertyDescriptor, PropertyKey};
use boa_engine::string::JsStrVariant;
use boa_engine::{
    Context, Finalize, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, JsVariant,
    NativeFunction, Trace, js_string,
};
use bytes::Bytes;

/// Builds a JS `TypeError` with the given message.
pub fn type_error(message: impl Into<String>) -> JsError {
    JsNativeError::typ().with_message(message.into()).into()
}

/// Builds a plain JS `Error` with the given message (Pipy throws these for bad input).
pub fn plain_error(message: impl Into<String>) -> JsError {
    JsNativeError::error().with_message(message.into()).into()
}

/// Runs `f` on the native data of `this`, or throws a `TypeError` naming the method.
///
/// The closure gets no `Context`, so no script can run (and re-enter this object) while the
/// data is borrowed.
pub fn with_this<T: NativeObject, R>(
    this: &JsValue,
    class: &str,
    method: &str,
    f: impl FnOnce(&mut T) -> R,
) -> JsResult<R> {
    let object = this.as_object();
    let mut data = object
        .as_ref()
        .and_then(|object| object.downcast_mut::<T>())
        .ok_or_else(|| type_error(format!("{class}.{method} called on an incompatible object")))?;
    Ok(f(&mut data))
}

/// Appends the UTF-8 form of a JS string to `out` without an intermediate allocation.
pub fn push_js_str(out: &mut String, s: &JsString) {
    if let JsStrVariant::Latin1(b) = s.as_str().variant()
        && let Some(ascii) = ascii_str(b)
    {
        out.push_str(ascii);
    } else {
        out.extend(s.as_str().code_points_lossy());
    }
}

/// Wire bytes as text, invalid UTF-8 replaced by U+FFFD; borrowed when they are ASCII, as
/// request fields almost always are.
pub fn str_lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match ascii_str(b) {
        Some(ascii) => std::borrow::Cow::Borrowed(ascii),
        None => String::from_utf8_lossy(b),
    }
}

/// `b` as text if it is ASCII. `is_ascii` looks a word at a time; UTF-8 validation, lossy or
/// not, costs several times as much on such bytes, and finds nothing more to check.
fn ascii_str(b: &[u8]) -> Option<&str> {
    // SAFETY: ASCII bytes are UTF-8.
    b.is_ascii()
        .then(|| unsafe { std::str::from_utf8_unchecked(b) })
}

/// The UTF-8 bytes of a JS string (a lone surrogate becomes U+FFFD, as in `push_js_str`):
/// copied straight from ASCII strings (header names and values, paths, most bodies).
pub fn utf8_bytes(s: &JsString) -> Bytes {
    match s.as_str().variant() {
        JsStrVariant::Latin1(b) if b.is_ascii() => Bytes::copy_from_slice(b),
        _ => {
            let mut out = String::new();
            push_js_str(&mut out, s);
            Bytes::from(out)
        }
    }
}

/// The own enumerable string-keyed properties of `object` with their values, in property
/// order (what `Object.entries` returns for ordinary objects).
pub fn own_entries(object: &JsObject, ctx: &mut Context) -> JsResult<Vec<(JsString, JsValue)>> {
    let keys = object.own_property_keys(ctx)?;
    let mut entries = Vec::with_capacity(keys.len());
    for key in keys {
        let name = match &key {
            PropertyKey::String(s) => s.clone(),
            PropertyKey::Index(i) => JsString::from(i.get().to_string()),
            PropertyKey::Symbol(_) => continue,
        };
        let hidden = object
            .borrow()
            .properties()
            .get(&key)
            .is_some_and(|d| d.enumerable() == Some(false));
        if hidden {
            continue;
        }
        let value = object.get(key, ctx)?;
        entries.push((name, value));
    }
    Ok(entries)
}

/// The elements of a JS array-like object, read through `length` and indexed gets.
pub fn array_elements(object: &JsObject, ctx: &mut Context) -> JsResult<Vec<JsValue>> {
    let length = object.get(js_string!("length"), ctx)?.to_length(ctx)?;
    let mut items = Vec::with_capacity(length.min(1024) as usize);
    for i in 0..length {
        items.push(object.get(i, ctx)?);
    }
    Ok(items)
}

/// Where an object lives: its identity while something holds it (no other object can take the
/// address of one still alive). Clones of a `JsObject` share it.
pub fn object_address(o: &JsObject) -> usize {
    std::ptr::from_ref(o.as_ref()).cast::<()>() as usize
}

/// Where a script string's text lives. Clones of one string share their text, so two strings
/// whose texts are at one address are equal without comparing them (two texts alive at once
/// cannot share an address), and strings of different lengths are unequal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextAddress {
    at: usize,
    len: usize,
    latin1: bool,
}

impl TextAddress {
    pub fn of(s: &JsString) -> TextAddress {
        let s = s.as_str();
        let at = match s.variant() {
            JsStrVariant::Latin1(v) => v.as_ptr() as usize,
            JsStrVariant::Utf16(v) => v.as_ptr() as usize,
        };
        TextAddress {
            at,
            len: s.len(),
            latin1: s.is_latin1(),
        }
    }

    /// Whether the texts at `self` and `other` (both alive) are equal, where their addresses
    /// tell; `None` when the texts must be compared.
    pub fn same_text(self, other: TextAddress) -> Option<bool> {
        if self == other {
            Some(true)
        } else if self.len != other.len {
            Some(false)
        } else {
            None
        }
    }
}

/// A JS value usable as a hash-map key: primitives compare by value (SameValueZero, with
/// `-0` and every NaN folded so equal keys hash alike), objects by identity.
#[derive(Clone, Debug, Trace, Finalize)]
pub struct ValueKey {
    value: JsValue,
    /// What decides most comparisons without boa's `SameValueZero` (which clones both values
    /// twice): session keys and cache keys are usually the very string or object they were
    /// stored with.
    #[unsafe_ignore_trace]
    identity: Identity,
}

#[derive(Clone, Copy, Debug)]
enum Identity {
    Text(TextAddress),
    /// The object's address (the key holds the object, so no other can take it).
    Object(usize),
    /// A number, boolean, `null`, `undefined`, symbol or BigInt.
    Other,
}

impl ValueKey {
    /// Wraps a value, normalising numbers so that hashing agrees with equality.
    pub fn new(value: &JsValue) -> Self {
        let (value, identity) = match value.variant() {
            JsVariant::Float64(0.0) => (JsValue::new(0), Identity::Other),
            JsVariant::Float64(n) if n.is_nan() => (JsValue::nan(), Identity::Other),
            JsVariant::Float64(n) if n.fract() == 0.0 && n.abs() <= f64::from(i32::MAX) => {
                (JsValue::new(n as i32), Identity::Other)
            }
            JsVariant::String(s) => (value.clone(), Identity::Text(TextAddress::of(&s))),
            JsVariant::Object(o) => (value.clone(), Identity::Object(object_address(&o))),
            _ => (value.clone(), Identity::Other),
        };
        Self { value, identity }
    }

    /// Whether `other` wraps the very same string or object (its text at the same address),
    /// a test that needs neither a hash nor a comparison of the texts. Equal keys may fail it.
    pub fn is_identical(&self, other: &ValueKey) -> bool {
        match (self.identity, other.identity) {
            (Identity::Object(a), Identity::Object(b)) => a == b,
            (Identity::Text(a), Identity::Text(b)) => a == b,
            _ => false,
        }
    }

    /// The wrapped value.
    pub fn value(&self) -> &JsValue {
        &self.value
    }
}

impl PartialEq for ValueKey {
    fn eq(&self, other: &Self) -> bool {
        let same = || JsValue::same_value_zero(&self.value, &other.value);
        match (self.identity, other.identity) {
            (Identity::Object(a), Identity::Object(b)) => a == b,
            (Identity::Text(a), Identity::Text(b)) => a.same_text(b).unwrap_or_else(same),
            (Identity::Other, Identity::Other) => same(),
            // A string, an object and anything else are of different types.
            _ => false,
        }
    }
}

impl Eq for ValueKey {}

impl Hash for ValueKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // An object hashes by the address it compares by, without cloning the value to find it.
        if let Identity::Object(at) = self.identity {
            return at.hash(state);
        }
        match self.value.variant() {
            JsVariant::String(s) => hash_string(&s, state),
            _ => self.value.hash(state),
        }
    }
}

/// Hashes a string's UTF-16 code units in blocks. boa's own `Hash` feeds the hasher one unit at
/// a time, a SipHash round per character: for a muxHTTP session key such as a target address
/// that was a quarter of the lookup. Latin-1 and UTF-16 storage of the same text hash alike.
fn hash_string<H: Hasher>(s: &JsString, state: &mut H) {
    let s = s.as_str();
    match s.variant() {
        JsStrVariant::Latin1(bytes) => hash_units(bytes.iter().map(|&b| u16::from(b)), state),
        JsStrVariant::Utf16(units) => hash_units(units.iter().copied(), state),
    }
    state.write_usize(s.len());
}

/// Feeds `units` to the hasher 64 at a time, as native-endian bytes.
fn hash_units<H: Hasher>(mut units: impl Iterator<Item = u16>, state: &mut H) {
    const UNITS: usize = 64;
    let mut block = [0u8; UNITS * 2];
    loop {
        let mut n = 0;
        for (at, u) in block.chunks_exact_mut(2).zip(&mut units) {
            at.copy_from_slice(&u.to_ne_bytes());
            n += 2;
        }
        if n == 0 {
            return;
        }
        state.write(&block[..n]);
    }
}

/// A prototype method of a native class: its name, its `length` property and the function.
pub type ClassMethod = (&'static str, usize, NativeFunctionPointer);

/// Adds `methods` to the prototype of the class being built, in order. Each class's `init` then
/// lists its methods as one table.
pub fn add_methods(class: &mut ClassBuilder<'_>, methods: &[ClassMethod]) {
    for &(name, length, function) in methods {
        class.method(
            JsString::from(name),
            length,
            NativeFunction::from_fn_ptr(function),
        );
    }
}

/// Registers native class `C` in the current realm and installs its constructor as property
/// `C::NAME` of `target` (not of the global object).
pub fn register_class_into<C: Class>(target: &JsObject, ctx: &mut Context) -> JsResult<()> {
    let mut builder = ClassBuilder::new::<C>(ctx);
    C::init(&mut builder)?;
    let class = builder.build();
    target.define_property_or_throw(
        js_string!(C::NAME),
        PropertyDescriptor::builder()
            .value(class.constructor())
            .writable(true)
            .enumerable(false)
            .configurable(true),
        ctx,
    )?;
    ctx.realm().register_class::<C>(class);
    Ok(())
}

/// Installs `value` as a writable, non-enumerable, configurable property of the global object.
pub fn define_global(name: &str, value: impl Into<JsValue>, ctx: &mut Context) -> JsResult<()> {
    let global = ctx.global_object();
    global.define_property_or_throw(
        JsString::from(name),
        PropertyDescriptor::builder()
            .value(value)
            .writable(true)
            .enumerable(false)
            .configurable(true),
        ctx,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::builtins::test_support::eval_string;

    #[test]
    fn class_methods_keep_their_names_and_lengths_on_the_prototype() {
        assert_eq!(
            eval_string(
                "var p = URLSearchParams.prototype, c = algo.Cache.prototype;
                 [p.get.name, p.get.length, p.set.name, p.set.length, p.toString.length,
                  c.clear.name, c.clear.length,
                  Object.getOwnPropertyNames(algo.RoundRobinLoadBalancer.prototype).sort()].join()"
            ),
            "get,1,set,2,0,clear,0,constructor,deselect,select,set"
        );
    }

    #[test]
    fn js_strings_append_as_utf8() {
        let mut out = String::from(">");
        push_js_str(&mut out, &js_string!("/ascii"));
        push_js_str(&mut out, &JsString::from("|é€😀"));
        push_js_str(&mut out, &JsString::from("/ü"));
        push_js_str(&mut out, &js_string!(""));
        push_js_str(&mut out, &JsString::from(&[0xD800u16, 0x61][..]));
        assert_eq!(out, ">/ascii|é€😀/ü\u{FFFD}a");
    }

    #[test]
    fn value_keys_fold_numbers() {
        let a = ValueKey::new(&JsValue::new(1));
        let b = ValueKey::new(&JsValue::new(1.0));
        assert_eq!(a, b);
        let z = ValueKey::new(&JsValue::new(-0.0));
        assert_eq!(z, ValueKey::new(&JsValue::new(0)));
        assert_ne!(a, ValueKey::new(&JsValue::new(js_string!("1"))));
    }

    #[test]
    fn value_keys_compare_strings_by_text_and_objects_by_identity() {
        let text = |t: &str| JsValue::new(JsString::from(t));
        let stored = text("127.0.0.1:8080");
        let k = ValueKey::new(&stored);
        assert_eq!(k, ValueKey::new(&stored.clone()), "the same string");
        assert_eq!(
            k,
            ValueKey::new(&text("127.0.0.1:8080")),
            "another string, same text"
        );
        assert_ne!(k, ValueKey::new(&text("127.0.0.1:8081")), "same length");
        assert_ne!(k, ValueKey::new(&text("127.0.0.1:80")));
        // The same text stored as UTF-16 and as Latin-1.
        let utf16 = JsString::from(&"127.0.0.1:8080".encode_utf16().collect::<Vec<_>>()[..]);
        assert!(!utf16.as_str().is_latin1());
        assert!(stored.as_string().is_some_and(|s| s.as_str().is_latin1()));
        assert_eq!(ValueKey::new(&JsValue::new(utf16.clone())), k);
        let other = JsString::from(&"127.0.0.1:8081".encode_utf16().collect::<Vec<_>>()[..]);
        assert_ne!(ValueKey::new(&JsValue::new(other)), k);
        assert_eq!(ValueKey::new(&text("")), ValueKey::new(&text("")));
        assert_eq!(
            ValueKey::new(&JsValue::nan()),
            ValueKey::new(&JsValue::new(f64::NAN))
        );
        let ctx = &mut Context::default();
        let o = JsValue::new(JsObject::with_object_proto(ctx.intrinsics()));
        let p = JsValue::new(JsObject::with_object_proto(ctx.intrinsics()));
        assert_eq!(ValueKey::new(&o), ValueKey::new(&o.clone()));
        assert_eq!(
            hash_of(&ValueKey::new(&o)),
            hash_of(&ValueKey::new(&o.clone()))
        );
        assert_ne!(ValueKey::new(&o), ValueKey::new(&p));
        assert_ne!(ValueKey::new(&o), k);
        assert_ne!(
            ValueKey::new(&JsValue::null()),
            ValueKey::new(&JsValue::undefined())
        );
        assert_ne!(k, ValueKey::new(&JsValue::new(1)));
    }

    #[test]
    fn identical_keys_wrap_the_same_string_or_object() {
        let stored = JsValue::new(JsString::from("127.0.0.1:8080"));
        let k = ValueKey::new(&stored);
        assert!(k.is_identical(&ValueKey::new(&stored.clone())));
        // Equal, but another string: the caller falls back to the hash map.
        let twin = ValueKey::new(&JsValue::new(JsString::from("127.0.0.1:8080")));
        assert_eq!(k, twin);
        assert!(!k.is_identical(&twin));
        assert!(!ValueKey::new(&JsValue::new(1)).is_identical(&ValueKey::new(&JsValue::new(1))));
        let ctx = &mut Context::default();
        let o = JsValue::new(JsObject::with_object_proto(ctx.intrinsics()));
        let p = JsValue::new(JsObject::with_object_proto(ctx.intrinsics()));
        assert!(ValueKey::new(&o).is_identical(&ValueKey::new(&o.clone())));
        assert!(!ValueKey::new(&o).is_identical(&ValueKey::new(&p)));
    }

    fn hash_of(k: &ValueKey) -> u64 {
        use std::hash::BuildHasher;
        // A fixed-key SipHash, as the maps use (with random keys).
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .hash_one(k)
    }

    #[test]
    fn string_keys_hash_by_text_whatever_the_storage() {
        // Long enough to span blocks, with a unit outside Latin-1 in the second text only.
        let text: String = "127.0.0.1:8080/".repeat(9);
        let units: Vec<u16> = text.encode_utf16().collect();
        let latin1 = JsString::from(text.as_str());
        let utf16 = JsString::from(&units[..]);
        assert!(matches!(latin1.as_str().variant(), JsStrVariant::Latin1(_)));
        assert!(matches!(utf16.as_str().variant(), JsStrVariant::Utf16(_)));
        let (a, b) = (
            ValueKey::new(&JsValue::new(latin1)),
            ValueKey::new(&JsValue::new(utf16)),
        );
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));

        let mut map = std::collections::HashMap::new();
        map.insert(a, 1);
        assert_eq!(map.get(&b), Some(&1));
        let other = ValueKey::new(&JsValue::new(JsString::from(format!("{text}€").as_str())));
        assert_eq!(map.get(&other), None);
        // A shorter prefix is another key (the length is part of the hash).
        let prefix = ValueKey::new(&JsValue::new(JsString::from(&text[..64])));
        assert_ne!(hash_of(&prefix), hash_of(&b));
        // Every unit counts, including the first after a block of 64.
        for at in [63, 64, 65] {
            let mut changed = text.clone().into_bytes();
            changed[at] = b'#';
            let changed = String::from_utf8(changed).expect("ascii");
            let key = ValueKey::new(&JsValue::new(JsString::from(changed.as_str())));
            assert_ne!(hash_of(&key), hash_of(&b), "unit {at}");
        }
    }
}
