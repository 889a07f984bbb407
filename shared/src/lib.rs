//! Servicekanal's library. The folders show the architecture:
//!
//! - `domain/`: what the product is about: contacts, conversations, messages, identities and
//!   their keys, callback requests, the survey's steps, the messages between the functions;
//! - `policy/`: the promises of the privacy notices: the retention table and every deadline
//!   rule, masking for logs, erasure and access requests;
//! - `ports/`: the outside world as the domain sees it (store, queues, objects, secrets, the
//!   customer directory, the clock), each with its AWS and its local adapter;
//! - `channels/`: WhatsApp's Cloud API (webhook payloads, the Graph API, the local outbox);
//! - `lisa/`: the bot: topic catalogue, classifier, dialogue;
//! - `stats/`: the anonymised statistics (Parquet rows for Athena);
//! - `runtime/`: what every Lambda's `main` does first (logging, configuration).

pub mod channels;
pub mod domain;
pub mod lisa;
pub mod policy;
pub mod ports;
pub mod runtime;
#[cfg(feature = "stats")]
pub mod stats;
