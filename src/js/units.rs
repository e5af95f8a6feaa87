//! Units in script options: seconds (`5`, `'5s'`, `'2m'`, `'100ms'`) and byte sizes (`'256k'`).

use boa_engine::{Context, JsResult, JsValue};
use std::time::Duration;

/// Parses a duration. Plain numbers are seconds; suffixes `ms`, `s`, `m`, `h`, `d`.
/// Unlike Pipy 0.30 (which reads `'10ms'` as 10 s), `ms` means milliseconds here.
pub fn parse_seconds_str(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = s.strip_suffix('d') {
        (n, 86400.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(v * mul))
}

pub fn seconds(v: &JsValue, ctx: &mut Context) -> JsResult<Option<Duration>> {
    if v.is_null_or_undefined() {
        return Ok(None);
    }
    if let Some(n) = v.as_number() {
        if n <= 0.0 || !n.is_finite() {
            return Ok(None);
        }
        return Ok(Some(Duration::from_secs_f64(n)));
    }
    let s = v.to_string(ctx)?.to_std_string_escaped();
    parse_seconds_str(&s).map(Some).ok_or_else(|| {
        boa_engine::JsNativeError::typ()
            .with_message(format!("invalid time value: {s}"))
            .into()
    })
}

/// Parses a byte size: number, or string with `k`/`m`/`g`/`t` (powers of 1024).
pub fn parse_size_str(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (&s[..], 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some((v * mul as f64) as u64)
}

pub fn size(v: &JsValue, ctx: &mut Context) -> JsResult<Option<u64>> {
    if v.is_null_or_undefined() {
        return Ok(None);
    }
    if let Some(n) = v.as_number() {
        return Ok(Some(n.max(0.0) as u64));
    }
    let s = v.to_string(ctx)?.to_std_string_escaped();
    parse_size_str(&s).map(Some).ok_or_else(|| {
        boa_engine::JsNativeError::typ()
            .with_message(format!("invalid size: {s}"))
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_seconds_str("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_seconds_str("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_seconds_str("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_seconds_str("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_size_str("256k"), Some(256 * 1024));
        assert_eq!(parse_size_str("8m"), Some(8 << 20));
        assert_eq!(parse_size_str("x"), None);
    }
}
