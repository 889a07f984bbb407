//! Servicekanal's library: the domain, the retention policy, the ports and their adapters.

pub mod callback;
pub mod clock;
pub mod directory;
pub mod domain;
pub mod identity;
pub mod keys;
pub mod lisa;
pub mod mask;
pub mod messages;
#[cfg(feature = "stats")]
pub mod objects;
pub mod phone;
pub mod privacy;
pub mod queue;
pub mod retention;
pub mod runtime;
pub mod secrets;
#[cfg(feature = "stats")]
pub mod stats;
pub mod store;
pub mod survey;
pub mod telemetry;
pub mod text;
pub mod whatsapp;
