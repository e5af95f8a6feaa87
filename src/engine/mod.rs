//! Events, data, heads, contexts, pipeline layouts and instances, and the `Filter` seam.

pub mod context;
pub mod data;
pub mod event;
pub mod filter;
pub mod graph;
pub mod head;
pub mod piped;
pub mod pipeline;
pub mod plan;
