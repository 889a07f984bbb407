//! One contract for the `ObjectStore` port, run against the local directory and S3 (moto's
//! server through the AWS SDK): what stats-export and the local stack rely on.

use servicekanal_shared::ports::objects::local::LocalDirectory;
use servicekanal_shared::ports::objects::s3::S3Bucket;
use servicekanal_shared::ports::objects::{ObjectError, ObjectStore};
use servicekanal_testing::{moto_bucket, moto_config};

async fn contract(objects: &dyn ObjectStore) {
    assert_eq!(
        objects
            .get("conversations/dt=2026-11-21/1.parquet")
            .await
            .unwrap(),
        None
    );
    assert!(objects.list("").await.unwrap().is_empty());

    objects
        .put("conversations/dt=2026-11-21/2.parquet", b"second".to_vec())
        .await
        .unwrap();
    objects
        .put("conversations/dt=2026-11-21/1.parquet", b"first".to_vec())
        .await
        .unwrap();
    objects
        .put("deletions/dt=2026-11-22/1.parquet", b"deleted".to_vec())
        .await
        .unwrap();
    assert_eq!(
        objects
            .get("conversations/dt=2026-11-21/1.parquet")
            .await
            .unwrap(),
        Some(b"first".to_vec())
    );
    assert_eq!(
        objects.list("conversations/").await.unwrap(),
        [
            "conversations/dt=2026-11-21/1.parquet",
            "conversations/dt=2026-11-21/2.parquet"
        ]
    );
    assert_eq!(objects.list("").await.unwrap().len(), 3);

    // A retried batch overwrites its object: still one object, with the new content.
    objects
        .put("conversations/dt=2026-11-21/1.parquet", b"again".to_vec())
        .await
        .unwrap();
    assert_eq!(
        objects
            .get("conversations/dt=2026-11-21/1.parquet")
            .await
            .unwrap(),
        Some(b"again".to_vec())
    );
    assert_eq!(objects.list("conversations/").await.unwrap().len(), 2);

    // Keys that could escape a directory or mean different things are refused, storing nothing.
    for bad in ["", "/abs", "a//b", "a/../b", "./a", "a/"] {
        assert!(
            matches!(
                objects.put(bad, b"x".to_vec()).await,
                Err(ObjectError::InvalidKey(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(objects.list("").await.unwrap().len(), 3);

    // A deleted object is gone; deleting it again is no error.
    objects
        .delete("deletions/dt=2026-11-22/1.parquet")
        .await
        .unwrap();
    objects
        .delete("deletions/dt=2026-11-22/1.parquet")
        .await
        .unwrap();
    assert_eq!(
        objects
            .get("deletions/dt=2026-11-22/1.parquet")
            .await
            .unwrap(),
        None
    );
    assert_eq!(objects.list("").await.unwrap().len(), 2);
    assert!(matches!(
        objects.delete("a/../b").await,
        Err(ObjectError::InvalidKey(_))
    ));
}

#[tokio::test]
async fn local_directory_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&LocalDirectory::new(dir.path().join("stats"))).await;
}

/// What a crash leaves of an object being written (`<key>.partial`, see `replace_file`) is
/// not an object: the export writes it again under its key.
#[tokio::test]
async fn a_half_written_object_left_by_a_crash_is_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let objects = LocalDirectory::new(dir.path().join("stats"));
    objects
        .put("conversations/dt=2026-11-21/1.parquet", b"first".to_vec())
        .await
        .unwrap();
    std::fs::write(
        dir.path()
            .join("stats/conversations/dt=2026-11-21/2.parquet.partial"),
        b"half",
    )
    .unwrap();
    assert_eq!(
        objects.list("").await.unwrap(),
        ["conversations/dt=2026-11-21/1.parquet"]
    );
}

#[tokio::test]
async fn s3_keeps_the_contract() {
    let config = moto_config().await;
    let (client, bucket) = moto_bucket(&config).await;
    contract(&S3Bucket::new(client, bucket)).await;
}

/// The local stack's state files (the change feed position, the clock offset) and the
/// directory's objects are replaced in one step: a reader (or a restart after a crash) finds
/// the old content or the new, never an empty or half-written file.
#[test]
fn a_replaced_file_is_never_seen_half_written() {
    use servicekanal_shared::ports::objects::local::replace_file;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats-position");
    let contents = ["1234567890".repeat(100), "9876543210".repeat(100)];
    replace_file(&path, &contents[0]).unwrap();
    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..3_000 {
                replace_file(&path, &contents[round % 2]).unwrap();
            }
            writing.store(false, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reads = 0;
        while writing.load(std::sync::atomic::Ordering::SeqCst) || reads < 100 {
            let seen = std::fs::read_to_string(&path).unwrap();
            assert!(contents.contains(&seen), "read {} bytes", seen.len());
            reads += 1;
        }
    });
}
