//! Test harness: a store of either adapter, with a controllable clock and its change feed.

#![allow(unused_imports)]

pub use servicekanal_shared::test_support::harness::*;
