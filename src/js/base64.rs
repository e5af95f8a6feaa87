//! Base64 (RFC 4648 §4) and base64url (§5) for `Data` encodings.

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn encode(b: &[u8], url: bool) -> String {
    let t = if url { URL } else { STD };
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(t[(n >> 18) as usize & 63] as char);
        s.push(t[(n >> 12) as usize & 63] as char);
        if c.len() > 1 {
            s.push(t[(n >> 6) as usize & 63] as char);
        } else if !url {
            s.push('=');
        }
        if c.len() > 2 {
            s.push(t[n as usize & 63] as char);
        } else if !url {
            s.push('=');
        }
    }
    s
}

pub fn decode(s: &str, url: bool) -> Option<Vec<u8>> {
    let t = if url { URL } else { STD };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for ch in s.bytes() {
        if ch == b'=' {
            break;
        }
        let v = t.iter().position(|&x| x == ch)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn roundtrip() {
        assert_eq!(super::encode(b"hello", false), "aGVsbG8=");
        assert_eq!(super::decode("aGVsbG8=", false).unwrap(), b"hello");
        assert_eq!(super::encode(b"\xff\xfe", true), "__4");
    }
}
