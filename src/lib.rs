//! pipy-rs: a programmable network stream processor and soft load balancer, script-compatible
//! with Pipy 0.30.

pub mod cli;
pub mod daemon;
pub mod engine;
pub mod filters;
pub mod http;
pub mod js;
pub mod net;
pub mod program;
pub mod worker;
