//! Sessions and latency: request/reply matching and per-metric statistics.

pub mod latency;
