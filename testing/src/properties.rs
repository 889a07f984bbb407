//! What the property tests share: their configuration and generators of almost-right JSON.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;
use servicekanal_shared::channels::whatsapp::payload::{Sender, UserMessage};

/// `cases` unless `PROPTEST_CASES` asks for more (long runs); failures are printed with the
/// minimal input, not written next to the sources.
pub fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// The names of WhatsApp's webhook payload, as object keys.
pub const WHATSAPP_NAMES: &[&str] = &[
    "object",
    "entry",
    "changes",
    "field",
    "value",
    "messages",
    "contacts",
    "statuses",
    "errors",
    "from",
    "from_user_id",
    "id",
    "timestamp",
    "type",
    "text",
    "body",
    "interactive",
    "button_reply",
    "list_reply",
    "system",
    "wa_id",
    "new_wa_id",
    "user_id",
    "previous_user_id",
    "profile",
    "name",
    "username",
    "status",
    "recipient_id",
    "pricing",
    "code",
    "metadata",
    "location",
    "latitude",
];

/// Values WhatsApp's payloads carry, timestamps at the calendar's ends among them.
pub const WHATSAPP_VALUES: &[&str] = &[
    "whatsapp_business_account",
    "messages",
    "text",
    "interactive",
    "button_reply",
    "image",
    "reaction",
    "system",
    "user_changed_number",
    "user_changed_user_id",
    "delivered",
    "read",
    "failed",
    "4917612345678",
    "DE.1349120865530274",
    "wamid.HBgNNDkxNzYxMjM0NTY3OBUCABIYFjNFQjBDMEQ",
    "1795262400",
    "-62135596800",
    "8210266876799",
    "99999999999999999999",
];

/// Any JSON document nested up to `depth`, with `names` as its object keys and `values` among
/// its random leaves: what a parser meets when the input is almost right.
pub fn json_with(
    names: &'static [&'static str],
    values: &'static [&'static str],
    depth: u32,
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
        prop::sample::select(values).prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(names).prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A WhatsApp sender: any mix of phone number, user id, username and profile name.
pub fn sender() -> impl Strategy<Value = Sender> {
    (
        proptest::option::of("49[1-9][0-9]{8,11}"),
        proptest::option::of("DE\\.[0-9]{16}"),
        proptest::option::of("[a-z][a-z0-9._]{2,20}"),
        proptest::option::of(".{1,30}"),
    )
        .prop_map(|(wa_id, user_id, username, profile_name)| Sender {
            wa_id,
            user_id,
            username,
            profile_name,
        })
}

/// What a user sends: a text, a button or list choice, an image with or without caption.
pub fn user_message() -> impl Strategy<Value = UserMessage> {
    prop_oneof![
        ".{0,300}".prop_map(|body| UserMessage::Text { body }),
        ("[a-z0-9_-]{1,20}", ".{0,20}").prop_map(|(id, title)| UserMessage::Button { id, title }),
        ("[a-z0-9_-]{1,20}", ".{0,24}").prop_map(|(id, title)| UserMessage::ListRow { id, title }),
        proptest::option::of(".{0,100}").prop_map(|caption| UserMessage::Image { caption }),
    ]
}
