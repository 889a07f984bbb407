//! The `servicekanal` command's library: the local stack's wiring, shared by `servicekanal dev`
//! and the end-to-end tests.

pub mod backend;
pub mod control;
pub mod dev;
pub mod faults;
pub mod load;
pub mod privacy;
pub mod review;
pub mod sales;
pub mod stack;
pub mod topics;
