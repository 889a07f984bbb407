//! Lisa, the bot: her topic catalogue, her trained topic model and her dialogue.

pub mod catalogue;
pub mod dialogue;
pub mod evaluate;
pub mod model;
pub mod train;
