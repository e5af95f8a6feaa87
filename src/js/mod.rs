//! PipyJS on boa: script evaluation into a pipeline graph, and the classes scripts use.

pub mod base64;
pub mod builtins;
pub mod config;
pub mod globals;
pub mod head;
pub mod http_file;
pub mod message;
pub mod native_head;
pub mod pure;
pub mod runtime;
pub mod units;
pub mod xml_data;
