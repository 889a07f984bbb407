//! The crate's integration tests, one binary (see `autotests = false` in Cargo.toml).

mod agent_desk;
mod classify;
mod common;
mod conversations;
mod crash;
mod dev_server;
mod load;
mod privacy;
mod review;
mod statistics;
mod survey;
mod template;
mod user_ids;
