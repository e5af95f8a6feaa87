//! `tee(file)`: writes every Data of the stream to a file (truncated when the stream's first data
//! arrives; `-` is standard output) and passes all events on unchanged.
//!
//! Writes are plain blocking file writes: local files take the page cache's speed, and a failed
//! write is logged once and stops the copy without disturbing the stream.

use super::{Dynamic, FilterArgs};
use crate::engine::event::Event;
use crate::engine::filter::{Cx, Filter, FilterFactory};
use std::fs::File;
use std::io::Write;

pub fn build_tee(a: &mut FilterArgs) -> Result<Box<dyn FilterFactory>, String> {
    if a.arg(0).is_null_or_undefined() {
        return Err("argument #1 (filename) is required".into());
    }
    Ok(Box::new(TeeFactory {
        filename: Dynamic::from_arg(a, 0),
        module: a.module,
    }))
}

struct TeeFactory {
    filename: Dynamic,
    module: usize,
}

impl FilterFactory for TeeFactory {
    fn name(&self) -> &'static str {
        "tee"
    }
    fn create(&self) -> Box<dyn Filter> {
        Box::new(Tee {
            filename: self.filename.clone(),
            module: self.module,
            out: Output::NotOpened,
        })
    }
}

enum Output {
    NotOpened,
    File(File),
    Stdout,
    /// Opening or writing failed (already logged), or the stream ended.
    Closed,
}

struct Tee {
    filename: Dynamic,
    module: usize,
    out: Output,
}

impl Tee {
    fn open(&mut self, cx: &mut Cx) {
        let name = match self.filename.eval(cx) {
            Ok(v) => {
                let ctx = cx.core.js.enter(self.module);
                match v.to_string(ctx) {
                    Ok(s) => s.to_std_string_escaped(),
                    Err(e) => {
                        log::error!("[tee] invalid filename: {e}");
                        self.out = Output::Closed;
                        return;
                    }
                }
            }
            Err(()) => {
                self.out = Output::Closed;
                return;
            }
        };
        self.out = if name == "-" {
            Output::Stdout
        } else {
            match File::create(&name) {
                Ok(f) => Output::File(f),
                Err(e) => {
                    log::error!("[tee] cannot open {name}: {e}");
                    Output::Closed
                }
            }
        };
    }

    fn write(&mut self, d: &crate::engine::data::Data) {
        let res = match &mut self.out {
            Output::File(f) => d.chunks().try_for_each(|c| f.write_all(c)),
            Output::Stdout => {
                let mut s = std::io::stdout().lock();
                d.chunks()
                    .try_for_each(|c| s.write_all(c))
                    .and_then(|()| s.flush())
            }
            Output::NotOpened | Output::Closed => Ok(()),
        };
        if let Err(e) = res {
            log::error!("[tee] write failed: {e}");
            self.out = Output::Closed;
        }
    }
}

impl Filter for Tee {
    fn on_event(&mut self, ev: Event, cx: &mut Cx) {
        match &ev {
            Event::Data(d) if !d.is_empty() => {
                if matches!(self.out, Output::NotOpened) {
                    self.open(cx);
                }
                self.write(d);
            }
            Event::StreamEnd(_) => self.out = Output::Closed,
            _ => {}
        }
        cx.output(ev);
    }
}

/// Filters of this family.
pub static SPECS: &[crate::filters::FilterSpec] = crate::filter_specs![(
    "tee",
    "filename: string | () => string",
    "Writes the stream's data to a file ('-' = stdout) and passes it on",
    build_tee
),];
