//! The customer channels the backend talks to directly.

pub mod whatsapp;
