//! The webhook's POST body through the real handler (signature check, parse, process) on the
//! embedded store and an in-process FIFO queue.
//!
//! Input: a first byte choosing the mode, then the rest.
//! - `0`: the rest is `<signature header>\n<body>`: whatever the header says, only the
//!   body's own HMAC passes, and a refused body is answered 401.
//! - anything else: the rest is a body signed with the app secret: it is always acknowledged
//!   (200: stored, or rejected as unreadable), never a 5xx and never a panic.

#![no_main]

#[path = "common.rs"]
mod common;

use lambda_http::Body;
use libfuzzer_sys::fuzz_target;
use servicekanal_shared::channels::whatsapp::payload::{SIGNATURE_HEADER, sign, verify_signature};
use servicekanal_shared::policy::mask::Secret;
use servicekanal_shared::ports::queue::memory::InProcessQueue;
use std::sync::Arc;
use whatsapp_webhook::{DEFAULT_MAX_BODY_BYTES, Ports, WEBHOOK_PATH, WebhookConfig, handle};

const APP_SECRET: &str = "servicekanal-local-app-secret";

struct Webhook {
    world: common::World,
    ports: Ports,
}

static WEBHOOK: common::Recycled<Webhook> = common::Recycled::new(|| {
    let world = common::World::new();
    let queue = Arc::new(InProcessQueue::new(
        "inbound.fifo",
        Arc::new(world.clock.clone()),
    ));
    let ports = Ports {
        store: world.store.clone(),
        inbound_queue: queue,
        clock: Arc::new(world.clock.clone()),
        pseudonymizer: world.pseudonymizer.clone(),
        config: WebhookConfig {
            app_secret: Secret(APP_SECRET.into()),
            verify_token: Secret("fuzz".into()),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        },
    };
    Webhook { world, ports }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = if mode == 0 {
        let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let header = lambda_http::http::HeaderValue::from_bytes(&rest[..split]).ok();
        (header, rest.get(split + 1..).unwrap_or_default())
    } else {
        let signature = sign(APP_SECRET.as_bytes(), rest);
        (Some(signature.parse().expect("a valid header value")), rest)
    };
    let verified = verify_signature(
        APP_SECRET.as_bytes(),
        body,
        header.as_ref().and_then(|h| h.to_str().ok()),
    )
    .is_ok();
    let mut request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(WEBHOOK_PATH);
    if let Some(header) = header {
        request = request.header(SIGNATURE_HEADER, header);
    }
    let request = request.body(Body::from(body.to_vec())).expect("a request");
    let status = WEBHOOK.with(|webhook| {
        webhook
            .world
            .runtime
            .block_on(handle(request, &webhook.ports))
            .status()
            .as_u16()
    });
    if verified {
        assert_eq!(status, 200, "a signed body is acknowledged");
    } else {
        assert_eq!(status, 401, "an unsigned body is refused");
    }
});
