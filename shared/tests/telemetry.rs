//! What a function's log lines look like in Lambda: JSON, the level respected, masked values.

use servicekanal_shared::runtime::telemetry::LogSettings;
use servicekanal_testing::LogCapture;

#[test]
fn json_lines_carry_fields_and_masked_values_only() {
    let capture = LogCapture::default();
    let settings = LogSettings::from_lookup(|name| match name {
        "AWS_LAMBDA_LOG_FORMAT" => Some("JSON".into()),
        "AWS_LAMBDA_LOG_LEVEL" => Some("INFO".into()),
        _ => None,
    });
    {
        let _guard = capture.start_with(&settings);
        tracing::debug!("hidden below the level");
        tracing::info!(
            phone = %servicekanal_shared::policy::mask::phone("+491701234567"),
            items = 3,
            "contact stored"
        );
    }
    let out = capture.text();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["message"], "contact stored");
    assert_eq!(lines[0]["items"], 3);
    assert_eq!(lines[0]["phone"], "+49********67");
    assert!(!out.contains("1701234567"));
}
