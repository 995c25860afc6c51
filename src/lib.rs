//! streamscope: see what streaming protocols really do on the wire.
//!
//! The pipeline (see the README's architecture section): a capture source ([`capture`]) hands
//! frames to [`engine::Engine`], which decodes them ([`wire`]), places them in flows and
//! reassembles TCP ([`flow`]), detects protocols by content and feeds dissectors ([`app`],
//! [`dissect`]), measures latency ([`session`]) and records events ([`timeline`]); the
//! [`report`] module renders the results.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![warn(missing_docs)]

pub mod app;
pub mod capture;
pub mod cli;
pub mod dissect;
pub mod engine;
pub mod engine_feed;
pub mod flow;
pub mod lab;
pub mod report;
pub mod session;
pub mod spill;
pub mod time;
pub mod timeline;
pub mod tui;
pub mod wire;

pub use engine::{Config, Engine};
