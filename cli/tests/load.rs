//! The load generator at a small scale: every message posted over HTTP (some twice) is stored
//! once and answered once, and the statistics have no empty files; with every port failing
//! now and then (the fault switch), the counts are still exact.

use servicekanal_cli::load::{LoadOptions, LoadReport, run};
use std::time::Duration;

async fn small_run(faults: &str) -> LoadReport {
    let dir = tempfile::tempdir().unwrap();
    run(LoadOptions {
        contacts: 12,
        messages_per_contact: 4,
        duplicate_share: 0.25,
        drain_timeout: Duration::from_secs(60),
        data_dir: Some(dir.path().join("stack")),
        faults: faults.parse().unwrap(),
        ..LoadOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_stored_once_and_answered_once_under_load() {
    let report = small_run("").await;
    assert!(report.holds(), "{:?}", report.audit.anomalies);
    assert_eq!(report.messages, 48);
    assert_eq!(report.duplicate_deliveries, 12);
    assert_eq!(report.accepted_posts, 60);
    assert_eq!(
        (report.audit.stored_once, report.audit.answered_once),
        (48, 48)
    );
    assert_eq!(report.audit.replies_sent_unrecorded, 0);
    assert!(report.audit.statistics_files > 0);
    assert_eq!(report.audit.empty_statistics_files, 0);
    assert!(report.audit.message_event_rows() > 0);
    assert_eq!(report.faults.total(), 0);
}

/// Store, queues, Graph API and the statistics bucket fail at random (seeded): throttling,
/// timeouts after the write went through, lost sends, failed deletions (redelivery after the
/// visibility timeout), 429s, 5xx, partial uploads. Every message is still stored once and
/// answered once, every statistics row written once; a reply goes out twice only where
/// WhatsApp took it and its answer was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_every_port_lose_nothing_and_double_nothing() {
    let report = small_run("store=0.05,queue=0.05,graph=0.1,objects=0.3,seed=7").await;
    assert!(report.audit.anomalies.is_empty(), "{:#?}", report);
    assert_eq!(
        (report.audit.stored_once, report.audit.answered_once),
        (48, 48)
    );
    assert!(
        report.audit.replies_sent_unrecorded as u64 <= report.faults.replies_at_risk(),
        "{:#?}",
        report
    );
    assert_eq!(report.audit.empty_statistics_files, 0);
    assert!(report.holds());
    for port in ["store.", "queue.", "graph.", "objects."] {
        assert!(
            report.faults.injected.keys().any(|k| k.starts_with(port)),
            "no {port} fault was injected: {:?}",
            report.faults
        );
    }
}
