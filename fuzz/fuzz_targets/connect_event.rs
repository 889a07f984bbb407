//! An Amazon Connect contact flow's invocation of voice-intake (JSON; what is not a Connect
//! event is wrapped as its `Details`). Connect needs a flat map of strings with a status back,
//! within its 8 seconds: never a Lambda error, never a panic.

#![no_main]

#[path = "common.rs"]
mod common;
#[path = "voice.rs"]
mod voice;

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(mut event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if event.get("Details").is_none() {
        event = serde_json::json!({ "Details": event });
    }
    let answer = voice::VOICE
        .with(|voice| voice.handle(event))
        .expect("a Connect event is always answered");
    let answer: HashMap<String, String> =
        serde_json::from_value(answer).expect("a flat map of strings");
    let status = answer.get("status").map(String::as_str);
    // "error" only when the store or queue fails, and these do not.
    assert!(matches!(status, Some("ok" | "invalid")), "{answer:?}");
    assert!(answer.get("message").is_some_and(|m| !m.is_empty()));
});
