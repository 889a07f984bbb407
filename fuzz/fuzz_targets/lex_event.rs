//! A Lex V2 code hook event for voice-intake (JSON; what has no `sessionState` is taken as
//! one, in a fulfilment). The answer is a dialog action Lex knows, or, for an event that is not
//! Lex V2's shape at all, a typed refusal: never a panic.

#![no_main]

#[path = "common.rs"]
mod common;
#[path = "voice.rs"]
mod voice;

use libfuzzer_sys::fuzz_target;
use voice_intake::VoiceError;

fuzz_target!(|data: &[u8]| {
    let Ok(mut event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if event.get("sessionState").is_none() {
        event = serde_json::json!({
            "invocationSource": "FulfillmentCodeHook",
            "sessionId": "fuzz-session",
            "sessionState": event,
        });
    }
    match voice::VOICE.with(|voice| voice.handle(event)) {
        Ok(response) => {
            let action = &response["sessionState"]["dialogAction"]["type"];
            assert!(
                matches!(action.as_str(), Some("Delegate" | "ElicitSlot" | "Close")),
                "{response}"
            );
            assert_ne!(
                response["sessionState"]["intent"]["state"], "Failed",
                "the store and queue do not fail here"
            );
        }
        Err(VoiceError::UnknownEvent(_)) => {}
        Err(e) => panic!("{e}"),
    }
});
