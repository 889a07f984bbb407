//! The contract of the `Queue` port, run against the in-process queue and SQS (moto).

use chrono::DateTime;
use servicekanal_shared::ports::clock::ManualClock;
use servicekanal_shared::ports::queue::memory::{InProcessQueue, Kept, QueueJournal};
use servicekanal_shared::ports::queue::sqs::SqsQueue;
use servicekanal_shared::ports::queue::{
    OutgoingMessage, Queue, QueueError, dedup_id_of, group_of,
};
use servicekanal_shared::ports::store::embedded::EmbeddedStore;
use servicekanal_testing::{moto_config, moto_queue};
use std::sync::Arc;
use std::time::Duration;

struct Harness {
    fifo: Arc<dyn Queue>,
    standard: Arc<dyn Queue>,
    clock: ManualClock,
    /// The durable queues' data folder, kept while the harness lives.
    _data: Option<tempfile::TempDir>,
}

fn start_clock() -> ManualClock {
    ManualClock::new(DateTime::from_timestamp(1_795_255_200, 0).unwrap())
}

async fn in_process() -> Harness {
    let clock = start_clock();
    Harness {
        fifo: Arc::new(InProcessQueue::new("inbound.fifo", Arc::new(clock.clone()))),
        standard: Arc::new(InProcessQueue::new(
            "sales-callbacks",
            Arc::new(clock.clone()),
        )),
        clock,
        _data: None,
    }
}

/// The local stack's queues: in-process, journalled in the embedded store.
fn durable_on(
    data: &std::path::Path,
    clock: &ManualClock,
) -> (Arc<InProcessQueue>, Arc<InProcessQueue>) {
    let store = Arc::new(EmbeddedStore::open(data, Arc::new(clock.clone())).unwrap());
    let queue = |name: &str| {
        Arc::new(InProcessQueue::durable(name, Arc::new(clock.clone()), store.clone()).unwrap())
    };
    (queue("inbound.fifo"), queue("sales-callbacks"))
}

async fn durable() -> Harness {
    let clock = start_clock();
    let data = tempfile::tempdir().unwrap();
    let (fifo, standard) = durable_on(data.path(), &clock);
    Harness {
        fifo,
        standard,
        clock,
        _data: Some(data),
    }
}

async fn sqs() -> Harness {
    let config = moto_config().await;
    let (client, fifo) = moto_queue(&config, "inbound", true).await;
    let (_, standard) = moto_queue(&config, "callbacks", false).await;
    Harness {
        fifo: Arc::new(SqsQueue::new(client.clone(), fifo)),
        standard: Arc::new(SqsQueue::new(client, standard)),
        clock: start_clock(),
        _data: None,
    }
}

/// The bodies of everything `receive_all` takes, in the order received.
async fn received_bodies(queue: &dyn Queue) -> Vec<String> {
    receive_all(queue)
        .await
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

async fn receive_all(queue: &dyn Queue) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
    let mut out = Vec::new();
    loop {
        let batch = queue.receive(10).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for m in &batch {
            queue
                .acknowledge(m.receipt_handle.as_deref().unwrap())
                .await
                .unwrap();
        }
        out.extend(batch);
    }
}

async fn fifo_keeps_order_and_carries_group_and_dedup_ids(h: Harness) {
    for i in 0..5 {
        h.fifo
            .send(OutgoingMessage::fifo(
                format!("m{i}"),
                "contact-a",
                format!("wamid.{i}"),
            ))
            .await
            .unwrap();
    }
    let received = receive_all(h.fifo.as_ref()).await;
    let bodies: Vec<_> = received.iter().map(|m| m.body.clone().unwrap()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(group_of(&received[0]), Some("contact-a"));
    assert_eq!(dedup_id_of(&received[3]), Some("wamid.3"));
}

async fn fifo_drops_a_repeated_dedup_id(h: Harness) {
    let _ = &h.clock;
    for _ in 0..3 {
        h.fifo
            .send(OutgoingMessage::fifo(
                "once".into(),
                "contact-b",
                "wamid.same",
            ))
            .await
            .unwrap();
    }
    assert_eq!(receive_all(h.fifo.as_ref()).await.len(), 1);
}

async fn fifo_refuses_messages_without_ids(h: Harness) {
    let err = h
        .fifo
        .send(OutgoingMessage::standard("x".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::FifoIdsMissing));
    assert!(receive_all(h.fifo.as_ref()).await.is_empty());
}

async fn a_delayed_message_waits_and_bad_delays_are_refused(h: Harness) {
    h.standard
        .send(OutgoingMessage::standard("timer".into()).delayed(Duration::from_secs(600)))
        .await
        .unwrap();
    h.standard
        .send(OutgoingMessage::standard("now".into()))
        .await
        .unwrap();
    let bodies = received_bodies(h.standard.as_ref()).await;
    assert_eq!(bodies, ["now"], "the delayed message is not visible yet");
    assert!(matches!(
        h.standard
            .send(OutgoingMessage::standard("x".into()).delayed(Duration::from_secs(901)))
            .await,
        Err(QueueError::DelayTooLong(901))
    ));
    assert!(matches!(
        h.fifo
            .send(OutgoingMessage::fifo("x".into(), "g", "d").delayed(Duration::from_secs(60)))
            .await,
        Err(QueueError::DelayOnFifo)
    ));
}

async fn a_released_message_comes_back_and_an_acknowledged_one_does_not(h: Harness) {
    h.standard
        .send(OutgoingMessage::standard("retry me".into()))
        .await
        .unwrap();
    let first = h.standard.receive(10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        h.standard.receive(10).await.unwrap().is_empty(),
        "invisible while in flight"
    );
    h.standard
        .release(first[0].receipt_handle.as_deref().unwrap())
        .await
        .unwrap();
    let again = h.standard.receive(10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body.as_deref(), Some("retry me"));
    assert_eq!(
        again[0]
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("2")
    );
    h.standard
        .acknowledge(again[0].receipt_handle.as_deref().unwrap())
        .await
        .unwrap();
    assert!(receive_all(h.standard.as_ref()).await.is_empty());
}

async fn a_group_waits_while_its_message_is_in_flight(h: Harness) {
    h.fifo
        .send(OutgoingMessage::fifo("a1".into(), "a", "a1"))
        .await
        .unwrap();
    h.fifo
        .send(OutgoingMessage::fifo("a2".into(), "a", "a2"))
        .await
        .unwrap();
    let first = h.fifo.receive(1).await.unwrap();
    assert_eq!(first[0].body.as_deref(), Some("a1"));
    assert!(
        h.fifo.receive(10).await.unwrap().is_empty(),
        "a2 waits for a1"
    );
    h.fifo
        .release(first[0].receipt_handle.as_deref().unwrap())
        .await
        .unwrap();
    let next = h.fifo.receive(1).await.unwrap();
    assert_eq!(
        next[0].body.as_deref(),
        Some("a1"),
        "a released message keeps its place"
    );
}

/// Every case runs on each adapter; the `local` ones, which move the injected clock, on the
/// local stack's queues only (SQS keeps real time).
macro_rules! contract {
    (every: [$($case:ident),* $(,)?], local: [$($local:ident),* $(,)?] $(,)?) => {
        mod in_process {
            $( #[tokio::test] async fn $case() { super::$case(super::in_process().await).await } )*
            $( #[tokio::test] async fn $local() { super::$local(super::in_process().await).await } )*
        }
        mod durable {
            $( #[tokio::test] async fn $case() { super::$case(super::durable().await).await } )*
            $( #[tokio::test] async fn $local() { super::$local(super::durable().await).await } )*
        }
        mod sqs {
            $( #[tokio::test] async fn $case() { super::$case(super::sqs().await).await } )*
        }
    };
}

contract!(
    every: [
        fifo_keeps_order_and_carries_group_and_dedup_ids,
        fifo_drops_a_repeated_dedup_id,
        fifo_refuses_messages_without_ids,
        a_released_message_comes_back_and_an_acknowledged_one_does_not,
        a_group_waits_while_its_message_is_in_flight,
        a_delayed_message_waits_and_bad_delays_are_refused,
    ],
    local: [
        the_dedup_window_holds_five_minutes_however_many_ids_it_holds,
        an_unacknowledged_message_comes_back_after_the_visibility_timeout,
    ],
);

/// SQS's deduplication window on the injected clock, with more ids in it than the queue keeps
/// before it prunes: an id holds for five minutes from its first sending and is new after.
async fn the_dedup_window_holds_five_minutes_however_many_ids_it_holds(h: Harness) {
    let send = |id: String| {
        let fifo = h.fifo.clone();
        async move {
            fifo.send(OutgoingMessage::fifo(id.clone(), "contact-c", id.as_str()))
                .await
                .unwrap()
        }
    };
    for i in 0..300 {
        send(format!("wamid.first.{i}")).await;
    }
    h.clock.advance(chrono::Duration::minutes(4));
    send("wamid.first.0".into()).await;
    assert_eq!(
        receive_all(h.fifo.as_ref()).await.len(),
        300,
        "a repeat within 4 minutes dropped"
    );
    h.clock.advance(chrono::Duration::minutes(2));
    // Six minutes on, an id is new again, pruned or not.
    send("wamid.first.1".into()).await;
    for i in 0..300 {
        send(format!("wamid.second.{i}")).await;
    }
    send("wamid.second.7".into()).await;
    let received = receive_all(h.fifo.as_ref()).await;
    assert_eq!(received.len(), 301, "a fresh repeat dropped");
    assert_eq!(received[0].body.as_deref(), Some("wamid.first.1"));
}

/// SQS counts delays in real time; the in-process queue on the injected clock, so the local
/// stack's clock buttons fire timers.
#[tokio::test]
async fn in_process_delays_follow_the_injected_clock() {
    let h = in_process().await;
    h.standard
        .send(OutgoingMessage::standard("timer".into()).delayed(Duration::from_secs(600)))
        .await
        .unwrap();
    h.clock.advance(chrono::Duration::seconds(599));
    assert!(receive_all(h.standard.as_ref()).await.is_empty());
    h.clock.advance(chrono::Duration::seconds(1));
    let due = receive_all(h.standard.as_ref()).await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].body.as_deref(), Some("timer"));
}

/// SQS hands a received message out again once its visibility timeout passed without an
/// acknowledgement (a consumer that crashed or whose deletion failed).
async fn an_unacknowledged_message_comes_back_after_the_visibility_timeout(h: Harness) {
    h.standard
        .send(OutgoingMessage::standard("lost consumer".into()))
        .await
        .unwrap();
    assert_eq!(h.standard.receive(10).await.unwrap().len(), 1);
    h.clock.advance(chrono::Duration::seconds(29));
    assert!(
        h.standard.receive(10).await.unwrap().is_empty(),
        "still in flight"
    );
    h.clock.advance(chrono::Duration::seconds(1));
    let again = h.standard.receive(10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0]
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str),
        Some("2")
    );
}

/// The local stack restarts (or crashed): every message sent and not acknowledged is there
/// again, in order, the one in flight too; acknowledged ones are gone; a timer still waits
/// for its time; a FIFO deduplication id still holds for the rest of its five minutes.
#[tokio::test]
async fn a_durable_queue_keeps_every_unacknowledged_message_across_a_restart() {
    let clock = start_clock();
    let data = tempfile::tempdir().unwrap();
    {
        let (fifo, standard) = durable_on(data.path(), &clock);
        for i in 0..4 {
            fifo.send(OutgoingMessage::fifo(
                format!("m{i}"),
                "contact-a",
                format!("wamid.{i}"),
            ))
            .await
            .unwrap();
        }
        standard
            .send(OutgoingMessage::standard("timer".into()).delayed(Duration::from_secs(600)))
            .await
            .unwrap();
        let first = fifo.receive(1).await.unwrap();
        assert_eq!(first[0].body.as_deref(), Some("m0"));
        fifo.acknowledge(first[0].receipt_handle.as_deref().unwrap())
            .await
            .unwrap();
        let in_flight = fifo.receive(1).await.unwrap();
        assert_eq!(in_flight[0].body.as_deref(), Some("m1"));
        // Dropped here without acknowledging m1: the process is gone.
    }
    clock.advance(chrono::Duration::seconds(60));
    let (fifo, standard) = durable_on(data.path(), &clock);
    fifo.send(OutgoingMessage::fifo(
        "m2 again".into(),
        "contact-a",
        "wamid.2",
    ))
    .await
    .unwrap();
    fifo.send(OutgoingMessage::fifo("m4".into(), "contact-a", "wamid.4"))
        .await
        .unwrap();
    let bodies = received_bodies(fifo.as_ref()).await;
    assert_eq!(
        bodies,
        ["m1", "m2", "m3", "m4"],
        "in send order, m0 acknowledged, wamid.2 a repeat"
    );
    assert!(
        receive_all(standard.as_ref()).await.is_empty(),
        "the timer waits"
    );
    clock.advance(chrono::Duration::seconds(540));
    let due = received_bodies(standard.as_ref()).await;
    assert_eq!(due, ["timer"]);

    drop((fifo, standard));
    let (fifo, _) = durable_on(data.path(), &clock);
    assert!(
        receive_all(fifo.as_ref()).await.is_empty(),
        "acknowledged stays acknowledged"
    );
    clock.advance(chrono::Duration::seconds(300));
    fifo.send(OutgoingMessage::fifo(
        "m2 much later".into(),
        "contact-a",
        "wamid.2",
    ))
    .await
    .unwrap();
    assert_eq!(
        receive_all(fifo.as_ref()).await.len(),
        1,
        "after five minutes a dedup id is new again"
    );
}

/// A journal whose writes wait for the test to let them through, and fail when told to.
struct GatedJournal {
    gate: tokio::sync::Semaphore,
    fail_next: std::sync::atomic::AtomicBool,
    kept: std::sync::Mutex<Vec<u64>>,
}

#[async_trait::async_trait]
impl QueueJournal for GatedJournal {
    async fn keep(
        &self,
        _queue: &str,
        order: u64,
        _entry: Vec<u8>,
        _dedup: Option<(String, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<(), QueueError> {
        self.gate.acquire().await.unwrap().forget();
        if self
            .fail_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(QueueError::Backend("the disk is full".into()));
        }
        self.kept.lock().unwrap().push(order);
        Ok(())
    }

    async fn forget(
        &self,
        _queue: &str,
        _order: u64,
        _dedup_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), QueueError> {
        Ok(())
    }

    fn kept(&self, _queue: &str) -> Result<Kept, QueueError> {
        Ok(Kept::default())
    }
}

/// A repeat of a message whose journal write is still under way is answered only once that
/// write is done: had it been told "sent" at once, its sender (the webhook) would count the
/// message as queued, and a crash or a failed write would lose it. If the original's write
/// fails, the repeat is sent itself.
#[tokio::test]
async fn a_repeat_waits_until_its_original_is_durable_and_stands_in_if_that_fails() {
    let clock = start_clock();
    let journal = Arc::new(GatedJournal {
        gate: tokio::sync::Semaphore::new(0),
        fail_next: std::sync::atomic::AtomicBool::new(true),
        kept: std::sync::Mutex::default(),
    });
    let queue = Arc::new(
        InProcessQueue::durable("inbound.fifo", Arc::new(clock.clone()), journal.clone()).unwrap(),
    );
    let send = |body: &str| {
        let (queue, body) = (queue.clone(), body.to_owned());
        tokio::spawn(async move {
            queue
                .send(OutgoingMessage::fifo(body, "contact-a", "wamid.same"))
                .await
        })
    };
    let original = send("original");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let repeat = send("repeat");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !repeat.is_finished(),
        "the repeat waits for the original's write"
    );
    journal.gate.add_permits(1);
    assert!(
        original.await.unwrap().is_err(),
        "the original's write failed"
    );
    journal.gate.add_permits(1);
    repeat.await.unwrap().unwrap();
    let bodies = received_bodies(queue.as_ref()).await;
    assert_eq!(
        bodies,
        ["repeat"],
        "the repeat stood in for the failed original"
    );
    assert_eq!(journal.kept.lock().unwrap().len(), 1);
}
