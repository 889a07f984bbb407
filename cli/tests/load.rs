//! The load generator at a small scale: every message posted over HTTP (some twice) is stored
//! once and answered once, and the statistics have no empty files.

use servicekanal_cli::load::{LoadOptions, run};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_stored_once_and_answered_once_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let report = run(LoadOptions {
        contacts: 12,
        messages_per_contact: 4,
        duplicate_share: 0.25,
        drain_timeout: Duration::from_secs(60),
        data_dir: Some(dir.path().join("stack")),
        ..LoadOptions::default()
    })
    .await
    .unwrap();
    assert!(report.anomalies.is_empty(), "{:?}", report.anomalies);
    assert_eq!(report.messages, 48);
    assert_eq!(report.duplicate_deliveries, 12);
    assert_eq!(report.accepted_posts, 60);
    assert_eq!((report.stored_once, report.answered_once), (48, 48));
    assert!(report.statistics_files > 0);
    assert_eq!(report.empty_statistics_files, 0);
    assert!(report.message_event_rows > 0);
}
