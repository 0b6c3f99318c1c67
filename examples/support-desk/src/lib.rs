//! `support-desk`: the reference application of the secure-tools framework, a support desk
//! whose AI assistant works on a real SQLite database through tools.

// `ToolError` is the framework's error type, returned by every data-layer function so that the
// tools can pass it through unchanged; its size is the framework's call.
#![allow(clippy::result_large_err)]

#[macro_use]
mod text_enum;

pub mod app;
pub mod data_dir;
pub mod db;
pub mod demo;
pub mod fixture;
pub mod lines;
pub mod model;
pub mod role;
pub mod setup;
pub mod tools;
