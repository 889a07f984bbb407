//! `servicekanal classify` and `eval-topics` as a user runs them.

use std::io::Write;
use std::process::{Command, Stdio};

fn servicekanal(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicekanal"))
        .args(args)
        .env_remove("LISA_TOPICS_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn classify_prints_one_topic_id_per_line_and_nothing_else() {
    let (ok, out) = servicekanal(
        &["classify"],
        "Hallo!\nMeine Rechnung ist zu hoch\nich will kündigen\nWie wird das Wetter?\n",
    );
    assert!(ok);
    assert_eq!(out, "greeting\nbill\ncancellation\nunknown\n");
}

#[test]
fn eval_topics_reports_accuracy_confusions_and_what_lisa_does() {
    let (ok, out) = servicekanal(&["eval-topics"], "");
    assert!(ok);
    assert!(out.lines().any(|l| l.starts_with("bill ")), "{out}");
    let all = out.lines().find(|l| l.starts_with("all ")).unwrap();
    let test_set = servicekanal_shared::lisa::evaluate::EMBEDDED_TEST_SET
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert!(all.contains(&test_set.to_string()), "{all}");
    assert!(out.contains("answered directly: "), "{out}");
    assert!(out.contains("asked between two topics: "), "{out}");
}

#[test]
fn eval_topics_reads_anyones_labelled_file() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("mine.tsv");
    std::fs::write(
        &set,
        "topic\ttext\n# my own phrases\nbill\tMeine Rechnung ist zu hoch\nnetwork\tich hab kein netz\nroaming\tMeine Rechnung ist zu hoch\n",
    )
    .unwrap();
    let (ok, out) = servicekanal(&["eval-topics", "--file", set.to_str().unwrap()], "");
    assert!(ok, "{out}");
    let all = out.lines().find(|l| l.starts_with("all ")).unwrap();
    assert!(all.contains(" 3 ") && all.contains("66.7%"), "{all}");
    assert!(out.contains("1  roaming -> bill"), "{out}");

    std::fs::write(&set, "bills\tRechnung\n").unwrap();
    let (ok, _) = servicekanal(&["eval-topics", "--file", set.to_str().unwrap()], "");
    assert!(!ok, "an unknown topic is refused");
}

#[test]
fn an_edited_catalogue_is_used_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("topics.toml");
    std::fs::write(&broken, "[[topic]]\nid = \"bills\"\n").unwrap();
    let (ok, out) = servicekanal(&["eval-topics", "--topics", broken.to_str().unwrap()], "");
    assert!(!ok, "a broken catalogue must not be used: {out}");
    let (ok, _) = servicekanal(&["eval-topics"], "");
    assert!(ok);
}
