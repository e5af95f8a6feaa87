//! `algo.hash(value)`: a stable, non-negative 53-bit integer hash of a value.
//!
//! Strings hash their UTF-8 bytes with 64-bit FNV-1a, so the result does not depend on how
//! the engine stores the string; numbers hash their IEEE-754 bits (integers and `-0` folded
//! first so `1`, `1.0` and `-0`/`0` agree). Objects hash by identity (stable for the
//! object's lifetime only).

use crate::js::builtins::helpers::object_address;
use boa_engine::{Context, JsResult, JsString, JsValue, JsVariant};

/// FNV-1a 64-bit offset basis (draft-eastlake-fnv, section 2).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime (draft-eastlake-fnv, section 2).
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// The largest integer a JS number holds exactly is 2^53 - 1.
const MAX_SAFE_BITS: u64 = (1 << 53) - 1;

/// Incremental FNV-1a state.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(FNV_OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Folds the 64-bit state into 53 bits so it survives conversion to a JS number.
    fn finish53(&self) -> u64 {
        (self.0 ^ (self.0 >> 53)) & MAX_SAFE_BITS
    }
}

/// Hashes a JS string over its UTF-8 encoding without allocating.
pub fn hash_js_string(s: &JsString) -> u64 {
    let mut h = Fnv1a::new();
    let mut buf = [0u8; 4];
    for c in s.as_str().code_points_lossy() {
        h.write(c.encode_utf8(&mut buf).as_bytes());
    }
    h.finish53()
}

/// Hashes any JS value (see the module documentation for the rules).
pub fn hash_value(value: &JsValue) -> u64 {
    let mut h = Fnv1a::new();
    match value.variant() {
        JsVariant::String(s) => return hash_js_string(&s),
        JsVariant::Integer32(n) => h.write(&f64::from(n).to_bits().to_le_bytes()),
        JsVariant::Float64(n) => {
            let n = if n == 0.0 { 0.0 } else { n };
            h.write(&n.to_bits().to_le_bytes());
        }
        JsVariant::Boolean(b) => h.write(&[u8::from(b) + 1]),
        JsVariant::Undefined | JsVariant::Null => {}
        JsVariant::BigInt(b) => h.write(b.to_string().as_bytes()),
        JsVariant::Symbol(s) => h.write(&s.hash().to_le_bytes()),
        JsVariant::Object(o) => h.write(&object_address(&o).to_le_bytes()),
    }
    h.finish53()
}

/// Native body of `algo.hash(value)`.
pub fn algo_hash(_this: &JsValue, args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let value = args.first().cloned().unwrap_or_default();
    // 53-bit values are exact in an f64.
    Ok(JsValue::new(hash_value(&value) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use boa_engine::js_string;

    #[test]
    fn strings_hash_over_utf8_and_are_stable() {
        // FNV-1a 64 of "" is the offset basis; folded to 53 bits.
        let empty = hash_js_string(&js_string!(""));
        assert_eq!(
            empty,
            (FNV_OFFSET_BASIS ^ (FNV_OFFSET_BASIS >> 53)) & MAX_SAFE_BITS
        );
        let a = hash_js_string(&js_string!("héllo"));
        let b = hash_js_string(&JsString::from("héllo".to_string()));
        assert_eq!(a, b);
        assert!(a <= MAX_SAFE_BITS);
        assert_ne!(a, hash_js_string(&js_string!("hello")));
    }

    #[test]
    fn numbers_fold_integer_representations() {
        assert_eq!(hash_value(&JsValue::new(1)), hash_value(&JsValue::new(1.0)));
        assert_eq!(
            hash_value(&JsValue::new(-0.0)),
            hash_value(&JsValue::new(0))
        );
        assert_ne!(hash_value(&JsValue::new(1)), hash_value(&JsValue::new(2)));
    }

    #[test]
    fn objects_hash_by_identity() {
        let ctx = Context::default();
        let o = boa_engine::JsObject::with_object_proto(ctx.intrinsics());
        let p = boa_engine::JsObject::with_object_proto(ctx.intrinsics());
        let h = hash_value(&JsValue::new(o.clone()));
        assert_eq!(h, hash_value(&JsValue::new(o)), "the same object");
        assert_ne!(h, hash_value(&JsValue::new(p)), "another, equal object");
        assert!(h <= MAX_SAFE_BITS);
    }
}
