//! The Secrets Manager adapter against moto: one JSON secret, fetched once, values hidden.

use servicekanal_shared::ports::secrets::{Secrets, SecretsError, SecretsManagerSecrets};
use servicekanal_testing::moto_config;

async fn secret_with(value: &str) -> SecretsManagerSecrets {
    let client = aws_sdk_secretsmanager::Client::new(&moto_config().await);
    let name = format!("servicekanal/test/{}", ulid::Ulid::new());
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    SecretsManagerSecrets::new(client, name)
}

#[tokio::test]
async fn reads_all_fields_from_one_json_secret() {
    let source = secret_with(
        r#"{"app_secret":"s3cr3t-app","verify_token":"v","access_token":"EAAG-token","pseudonym_key":"0123456789abcdef0123456789abcdef"}"#,
    )
    .await;
    let secrets = source.load().await.unwrap();
    assert_eq!(secrets.app_secret.expose(), "s3cr3t-app");
    assert_eq!(secrets.access_token.expose(), "EAAG-token");
    assert!(!format!("{secrets:?}").contains("s3cr3t-app"));
}

#[tokio::test]
async fn a_missing_field_or_secret_is_a_typed_error_without_values() {
    let source =
        secret_with(r#"{"app_secret":"s3cr3t-app","verify_token":"v","access_token":"t"}"#).await;
    let err = source.load().await.unwrap_err();
    assert!(matches!(err, SecretsError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("pseudonym_key") && !err.to_string().contains("s3cr3t"));

    let client = aws_sdk_secretsmanager::Client::new(&moto_config().await);
    let err = SecretsManagerSecrets::new(client, "does-not-exist")
        .load()
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::Backend(_)), "{err}");
}
