//! `dump`, `print`, `dummy`.

use super::{Dynamic, FilterArgs};
use crate::engine::event::Event;
use crate::engine::filter::{Cx, Filter, FilterFactory};

pub fn build_dump(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    let tag = if !a.is_empty() {
        Some(Dynamic::from_arg(a, 0))
    } else {
        None
    };
    Ok(Box::new(DumpFactory { tag }))
}

struct DumpFactory {
    tag: Option<Dynamic>,
}

impl FilterFactory for DumpFactory {
    fn name(&self) -> &'static str {
        "dump"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Dump {
            tag: self.tag.clone(),
        })
    }
}

struct Dump {
    tag: Option<Dynamic>,
}

impl Filter for Dump {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        // Below info level nothing is shown: no tag callback, no hex, no head conversion.
        if !log::log_enabled!(log::Level::Info) {
            return cx.output(ev);
        }
        let tag = match &self.tag {
            Some(t) => t
                .eval(cx)
                .ok()
                .map(|v| {
                    let ctx = cx.core.js.ctx();
                    crate::js::globals::display_value(&v, ctx)
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        match &ev {
            Event::Data(d) => {
                log::info!("[dump] {tag} Data size={}", d.len());
                for line in hex_lines(&d.to_vec()) {
                    log::info!("[dump] {line}");
                }
            }
            Event::MessageStart(h) => {
                let head = {
                    let ctx = cx.core.js.ctx();
                    // Reading the head turns it into its script object; the encoder reads that back natively.
                    let v = crate::js::head::head_to_js(h, ctx).unwrap_or_default();
                    crate::js::globals::display_value(&v, ctx)
                };
                log::info!("[dump] {tag} MessageStart {head}");
            }
            Event::MessageEnd => log::info!("[dump] {tag} MessageEnd"),
            Event::StreamEnd(e) => log::info!("[dump] {tag} StreamEnd {}", e.name()),
        }
        cx.output(ev);
    }
}

fn hex_lines(b: &[u8]) -> Vec<String> {
    b.chunks(16)
        .map(|c| {
            let hex: Vec<String> = c.iter().map(|x| format!("{x:02x}")).collect();
            let txt: String = c
                .iter()
                .map(|&x| {
                    if (0x20..0x7f).contains(&x) {
                        x as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:<48} {txt}", hex.join(" "))
        })
        .collect()
}

pub fn build_print(_: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(PrintFactory))
}

struct PrintFactory;

impl FilterFactory for PrintFactory {
    fn name(&self) -> &'static str {
        "print"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Print)
    }
}

struct Print;

impl Filter for Print {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        if let Event::Data(d) = &ev
            && !d.is_empty()
        {
            let text = d.to_string_lossy();
            for line in text.lines() {
                let clean: String = line.chars().filter(|c| !c.is_control()).take(100).collect();
                log::info!("{clean}");
            }
        }
        cx.output(ev);
    }
}

pub fn build_dummy(_: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    Ok(Box::new(DummyFactory))
}

struct DummyFactory;

impl FilterFactory for DummyFactory {
    fn name(&self) -> &'static str {
        "dummy"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Dummy)
    }
}

struct Dummy;

impl Filter for Dummy {
    fn on_event(&mut self, _ev: Event, _cx: &mut Cx) {}
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![
    (
        "dump",
        "tag?: value | () => value",
        "Logs every event",
        build_dump
    ),
    ("print", "", "Logs Data as text lines", build_print),
    ("dummy", "", "Swallows every event", build_dummy),
];
