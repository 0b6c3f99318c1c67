//! `support-desk`: the reference application of the secure-tools framework, a support desk
//! whose AI assistant works on a real SQLite database through tools.

#[macro_use]
mod text_enum;

pub mod data_dir;
pub mod db;
pub mod fixture;
pub mod model;
pub mod role;
pub mod setup;
