//! The crate's integration tests, one binary (see `autotests = false` in Cargo.toml).

mod moto;
mod properties;
mod webhook;
