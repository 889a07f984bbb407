//! Lisa, the bot: her topic catalogue and how she understands messages.

pub mod catalogue;
pub mod classify;
pub mod dialogue;
pub mod evaluate;
