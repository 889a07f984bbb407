//! The crate's integration tests, one binary (see `autotests = false` in Cargo.toml).

mod customer_directory;
mod delivery;
mod desk_contract;
mod embedded_store;
mod graph_api;
mod identity;
mod lisa_dialogue;
mod object_store_contract;
mod privacy;
mod properties;
mod queue_contract;
mod secrets_manager;
mod store_contract;
mod store_model;
mod telemetry;
