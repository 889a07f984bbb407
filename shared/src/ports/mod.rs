//! The ports: the outside world as the domain sees it. Each has an AWS adapter and a local one
//! (embedded store, in-process queues, a directory for S3, ...), held to one contract suite.

pub mod clock;
#[cfg(feature = "connect")]
pub(crate) mod connect_api;
pub mod contact_records;
pub mod desk;
pub mod directory;
#[cfg(feature = "stats")]
pub mod objects;
pub mod queue;
pub mod secrets;
pub mod store;
