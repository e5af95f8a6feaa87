//! `Netmask(cidr)`: an IPv4 block in CIDR notation (RFC 4632 section 3.1), with its
//! derived addresses, `contains(ip)` and an iterator `next()` over host addresses.

use std::net::Ipv4Addr;

use boa_engine::class::{Class, ClassBuilder};
use boa_engine::property::Attribute;
use boa_engine::{
    Context, Finalize, JsData, JsResult, JsString, JsValue, NativeFunction, Trace, js_string,
};

use crate::js::builtins::helpers::{add_methods, plain_error, with_this};

/// Native data of a `Netmask` instance.
#[derive(Debug, Trace, Finalize, JsData)]
pub struct Netmask {
    cidr: JsString,
    #[unsafe_ignore_trace]
    base: u32,
    #[unsafe_ignore_trace]
    mask: u32,
    #[unsafe_ignore_trace]
    bits: u8,
    /// Offset of the next address `next()` returns.
    #[unsafe_ignore_trace]
    next: u32,
}

/// Parses a dotted quad strictly (four decimal octets, no extra characters).
pub fn parse_ipv4(text: &str) -> Option<u32> {
    text.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn ip_string(ip: u32) -> JsValue {
    JsString::from(Ipv4Addr::from(ip).to_string()).into()
}

impl Netmask {
    /// Parses `a.b.c.d/bits` (bits 0..=32; a bare address means `/32`).
    pub fn parse(cidr: &str) -> Option<Self> {
        let (ip, bits) = match cidr.split_once('/') {
            Some((ip, bits)) => {
                if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (ip, bits.parse::<u8>().ok().filter(|b| *b <= 32)?)
            }
            None => (cidr, 32),
        };
        let ip = parse_ipv4(ip)?;
        let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
        Some(Self {
            cidr: JsString::from(cidr),
            base: ip & mask,
            mask,
            bits,
            next: 1,
        })
    }

    fn hostmask(&self) -> u32 {
        !self.mask
    }

    fn broadcast(&self) -> u32 {
        self.base | self.hostmask()
    }

    /// First host address (the base itself for /31 and /32).
    fn first(&self) -> u32 {
        self.base | (self.hostmask() & 1)
    }

    /// Last host address (the base itself for /31 and /32).
    fn last(&self) -> u32 {
        let h = self.hostmask();
        self.base | (h & h.wrapping_sub(1))
    }

    fn size(&self) -> f64 {
        2f64.powi(32 - i32::from(self.bits))
    }

    /// Whether `ip` lies in this block; non-IPv4 text is never contained.
    pub fn contains(&self, ip: &str) -> bool {
        parse_ipv4(ip).is_some_and(|ip| ip & self.mask == self.base)
    }

    /// The next host address (base+1 up to broadcast-1), or `None` when exhausted.
    pub fn next_host(&mut self) -> Option<u32> {
        if self.next >= self.hostmask() {
            return None;
        }
        let ip = self.base | self.next;
        self.next += 1;
        Some(ip)
    }
}

/// Getter bodies, in script field order.
type Getter = fn(&Netmask) -> JsValue;

const GETTERS: [(&str, Getter); 8] = [
    ("base", |n| ip_string(n.base)),
    ("mask", |n| ip_string(n.mask)),
    ("bitmask", |n| JsValue::new(i32::from(n.bits))),
    ("hostmask", |n| ip_string(n.hostmask())),
    ("broadcast", |n| ip_string(n.broadcast())),
    ("size", |n| JsValue::new(n.size())),
    ("first", |n| ip_string(n.first())),
    ("last", |n| ip_string(n.last())),
];

fn netmask_contains(this: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let ip = args.first().cloned().unwrap_or_default().to_string(ctx)?;
    let ip = ip.to_std_string_lossy();
    with_this::<Netmask, _>(this, "Netmask", "contains", |n| {
        JsValue::new(n.contains(&ip))
    })
}

fn netmask_next(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    let next = with_this::<Netmask, _>(this, "Netmask", "next", Netmask::next_host)?;
    Ok(next.map_or_else(|| js_string!("").into(), ip_string))
}

fn netmask_to_string(this: &JsValue, _args: &[JsValue], _ctx: &mut Context) -> JsResult<JsValue> {
    with_this::<Netmask, _>(this, "Netmask", "toString", |n| n.cidr.clone().into())
}

impl Class for Netmask {
    const NAME: &'static str = "Netmask";
    const LENGTH: usize = 1;

    fn init(class: &mut ClassBuilder<'_>) -> JsResult<()> {
        let realm = class.context().realm().clone();
        for (name, get) in GETTERS {
            let getter = NativeFunction::from_copy_closure(move |this, _args, _ctx| {
                with_this::<Netmask, _>(this, "Netmask", name, |n| get(n))
            })
            .to_js_function(&realm);
            class.accessor(
                JsString::from(name),
                Some(getter),
                None,
                Attribute::CONFIGURABLE | Attribute::ENUMERABLE,
            );
        }
        add_methods(
            class,
            &[
                ("contains", 1, netmask_contains),
                ("next", 0, netmask_next),
                ("toString", 0, netmask_to_string),
            ],
        );
        Ok(())
    }

    fn data_constructor(
        _new_target: &JsValue,
        args: &[JsValue],
        ctx: &mut Context,
    ) -> JsResult<Self> {
        let cidr = args.first().cloned().unwrap_or_default().to_string(ctx)?;
        Self::parse(&cidr.to_std_string_lossy()).ok_or_else(|| plain_error("invalid CIDR notation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::builtins::test_support::{eval_bool, eval_string};

    #[test]
    fn fields_of_a_24() {
        assert_eq!(
            eval_string(
                "var n = new Netmask('192.168.1.77/24');
                 [n.base, n.mask, n.bitmask, n.hostmask, n.broadcast, n.size, n.first, n.last,
                  n.contains('192.168.1.200'), n.contains('192.168.2.1'), n.contains('bad'),
                  String(n)].join(' ')"
            ),
            "192.168.1.0 255.255.255.0 24 0.0.0.255 192.168.1.255 256 192.168.1.1 192.168.1.254 \
             true false false 192.168.1.77/24"
        );
    }

    #[test]
    fn next_iterates_hosts() {
        assert_eq!(
            eval_string(
                "var n = new Netmask('10.0.0.0/30'); [n.next(), n.next(), JSON.stringify(n.next())].join(',')"
            ),
            "10.0.0.1,10.0.0.2,\"\""
        );
    }

    #[test]
    fn edge_blocks() {
        let all = Netmask::parse("1.2.3.4/0").unwrap_or_else(|| panic!("parse /0"));
        assert_eq!((all.base, all.mask, all.size()), (0, 0, 4294967296.0));
        let one = Netmask::parse("1.2.3.4").unwrap_or_else(|| panic!("parse bare"));
        assert_eq!(
            (one.bits, one.first(), one.last()),
            (32, one.base, one.base)
        );
        assert!(Netmask::parse("1.2.3/8").is_none());
        assert!(Netmask::parse("1.2.3.4/33").is_none());
        assert!(Netmask::parse("1.2.3.4/").is_none());
        assert!(eval_bool(
            "try { new Netmask('nope'); false } catch (e) { e.message === 'invalid CIDR notation' }"
        ));
    }
}
