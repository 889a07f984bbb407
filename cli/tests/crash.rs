//! The local stack stopped dead (`abort`, as `kill -9`) between two steps of its work, then
//! started again on the same data folder: every message the webhook acknowledged is stored
//! once and answered once, nothing is sent twice except the replies WhatsApp had taken and
//! the bot not yet noted when the process died, and the statistics hold every row once. The
//! fault switch's `crash=` stops the real `servicekanal dev` process at an exact step, so no
//! case depends on timing.

use servicekanal_cli::load::{Audit, messages_audit, signed_message};
use servicekanal_cli::stack::LocalStack;
use servicekanal_shared::channels::whatsapp::payload::{SIGNATURE_HEADER, Sender, UserMessage};
use servicekanal_shared::ports::clock::SystemClock;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `servicekanal dev` process on a free port of 127.0.0.1.
struct Dev {
    child: Child,
    url: String,
}

impl Dev {
    fn start(data: &Path, faults: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_servicekanal"))
            .args(["dev", "--port", "0", "--faults", faults, "--data-dir"])
            .arg(data)
            // Lisa answers at once instead of waiting for a follow-up text.
            .env("BURST_WINDOW_MS", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("servicekanal dev starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("dev prints its address before anything fails")
                .unwrap();
            if let Some(rest) = line.split("open http://").nth(1) {
                break format!("http://{}", rest.split('/').next().unwrap());
            }
        };
        // Keep reading, so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Self { child, url }
    }

    /// Waits until the process ended by itself (the planned crash).
    fn crashed(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return !status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CONTACTS: usize = 3;
/// What each contact writes, one after the other.
const TEXTS: [&str; 2] = ["roaming aktivieren wie", "wie richte ich meine mailbox ein"];

fn messages() -> Vec<(String, Vec<u8>, String)> {
    let mut out = Vec::new();
    for (i, text) in TEXTS.iter().enumerate() {
        for contact in 0..CONTACTS {
            let sender = Sender::phone(&format!("4917{:08}", contact), Some("Absturz Test"));
            let wamid = format!("wamid.crash.{contact}.{i}");
            let message = UserMessage::Text {
                body: (*text).to_owned(),
            };
            // Dated "now": the webhook takes a message time within its window of the clock.
            let (body, signature) =
                signed_message(&sender, &wamid, &message, chrono::Utc::now()).unwrap();
            out.push((wamid, body, signature));
        }
    }
    out
}

/// Posts each message not yet acknowledged, one after the other; true for each the webhook
/// answered with 200. A refused connection (the process is gone) leaves it unacknowledged.
async fn post(dev: &Dev, messages: &[(String, Vec<u8>, String)], acknowledged: &mut [bool]) {
    let http = reqwest::Client::new();
    for ((_, body, signature), done) in messages.iter().zip(acknowledged.iter_mut()) {
        if *done {
            continue;
        }
        let answer = http
            .post(format!("{}/webhook", dev.url))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        *done = answer.is_ok_and(|a| a.status().is_success());
        // Give the consumers a moment between messages, as customers type.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn audit(dev: &Dev, wamids: &[String]) -> Audit {
    reqwest::Client::new()
        .post(format!("{}/local/audit", dev.url))
        .json(&serde_json::json!({ "wamids": wamids }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How many replies WhatsApp had taken that the bot had not yet noted, read from the data
/// folder of a stopped stack: the one window through which a reply goes out twice. A crash
/// at `whatsapp.send` is in it by design; a crash at any other step may catch another
/// consumer's turn in it, as `kill -9` at any moment would.
fn replies_in_the_window(data: &Path) -> usize {
    let stack = LocalStack::open(data, std::sync::Arc::new(SystemClock)).unwrap();
    messages_audit(&stack, &[]).unwrap().replies_sent_unrecorded
}

async fn crash_and_restart(crash_at: &str) {
    let data = tempfile::tempdir().unwrap();
    let messages = messages();
    let wamids: Vec<String> = messages.iter().map(|m| m.0.clone()).collect();
    let mut acknowledged = vec![false; messages.len()];

    let mut first = Dev::start(data.path(), &format!("crash={crash_at}"));
    post(&first, &messages, &mut acknowledged).await;
    assert!(
        first.crashed(),
        "the stack never reached {crash_at}: the case proves nothing"
    );
    let in_the_window = replies_in_the_window(data.path());
    if crash_at.starts_with("whatsapp.send") {
        assert!(
            in_the_window >= 1,
            "{crash_at}: WhatsApp took a reply the bot never noted"
        );
    }

    // WhatsApp delivers again what was not acknowledged.
    let second = Dev::start(data.path(), "");
    post(&second, &messages, &mut acknowledged).await;
    assert!(
        acknowledged.iter().all(|a| *a),
        "the restarted stack takes every message"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = audit(&second, &wamids).await;
        if report.answered_once == wamids.len() || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(report.stored_once, wamids.len(), "{crash_at}: {report:#?}");
    assert_eq!(
        report.answered_once,
        wamids.len(),
        "{crash_at}: {report:#?}"
    );
    assert!(report.anomalies.is_empty(), "{crash_at}: {report:#?}");
    // Only a reply WhatsApp took before the crash and the bot had not noted goes out again.
    assert!(
        report.replies_sent_unrecorded <= in_the_window,
        "{crash_at}: {in_the_window} in the window at the crash: {report:#?}"
    );
    assert_eq!(report.empty_statistics_files, 0, "{crash_at}: {report:#?}");
}

#[tokio::test]
async fn a_crash_after_a_store_write_loses_nothing() {
    // From the webhook's first write to Lisa's last turns (six messages make about 50).
    for nth in [1, 2, 3, 5, 8, 13, 21, 34] {
        crash_and_restart(&format!("store.write:{nth}")).await;
    }
}

#[tokio::test]
async fn a_crash_after_a_message_was_queued_loses_nothing() {
    for nth in [1, 3, 6] {
        crash_and_restart(&format!("queue.send:{nth}")).await;
    }
}

#[tokio::test]
async fn a_crash_before_a_handled_message_was_deleted_answers_it_once() {
    for nth in [1, 4] {
        crash_and_restart(&format!("queue.ack:{nth}")).await;
    }
}

#[tokio::test]
async fn a_crash_after_whatsapp_took_a_reply_sends_it_at_most_twice() {
    for nth in [1, 4] {
        crash_and_restart(&format!("whatsapp.send:{nth}")).await;
    }
}

/// The control API can erase data and move the clock: `servicekanal dev` listens on the
/// loopback interface only, whatever else the machine has.
#[tokio::test]
async fn the_local_stack_listens_on_the_loopback_interface_only() {
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(data.path(), "");
    let address: std::net::SocketAddr = dev.url.trim_start_matches("http://").parse().unwrap();
    assert!(address.ip().is_loopback(), "{address}");
    let answer = reqwest::get(format!("{}/local/clock", dev.url))
        .await
        .unwrap();
    assert!(answer.status().is_success());
    // The machine's address toward other hosts, if it has one: nothing listens there.
    let outward = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    if let Some(ip) = outward {
        let elsewhere = std::net::SocketAddr::new(ip, address.port());
        assert!(
            std::net::TcpStream::connect_timeout(&elsewhere, Duration::from_secs(1)).is_err(),
            "the local stack answers on {elsewhere}"
        );
    }
}

/// A message that can never succeed (here: WhatsApp refuses every call) is tried as often as
/// SQS would deliver it (`maxReceiveCount` 5), then moved to the dead-letter queue, so it no
/// longer blocks its contact's FIFO group; the next message of that contact is answered.
#[tokio::test]
async fn a_message_failing_five_times_goes_to_the_dead_letter_queue() {
    use servicekanal_cli::faults::Faults;
    use servicekanal_cli::stack::{LocalStack, MAX_RECEIVES};
    use servicekanal_shared::ports::clock::ManualClock;

    let data = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_795_255_200, 0).unwrap());
    let faults = Faults::new("graph=1".parse().unwrap());
    let stack = LocalStack::open_faulty(
        data.path(),
        std::sync::Arc::new(clock.clone()),
        faults.clone(),
    )
    .unwrap();
    let message = UserMessage::Text {
        body: "roaming aktivieren wie".into(),
    };
    stack
        .post_user_message("4917000000001", Some("Tote Briefe"), &message)
        .await
        .unwrap();
    let mut dead = 0;
    for run in 1..=MAX_RECEIVES {
        let report = stack.run().await;
        assert_eq!(report.failed, 1, "run {run}: {report:?}");
        dead += report.dead_lettered;
        if run < MAX_RECEIVES {
            assert_eq!(dead, 0, "run {run}: not yet");
        }
    }
    assert_eq!(dead, 1, "the fifth failure moves it");
    assert_eq!(stack.queues.dead_letters.depth(), 1);
    assert_eq!(stack.queues.inbound.depth(), 0);

    // The contact's next message is not held up behind it.
    faults.set(Default::default());
    // (A reply WhatsApp took before losing its answer may be in the outbox already.)
    let before = stack.outbox.sent().len();
    stack
        .post_user_message("4917000000001", Some("Tote Briefe"), &message)
        .await
        .unwrap();
    let report = stack.run().await;
    assert_eq!((report.handled, report.failed), (1, 0), "{report:?}");
    assert_eq!(stack.outbox.sent().len(), before + 1, "answered once");
}
