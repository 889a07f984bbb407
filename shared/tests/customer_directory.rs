//! The `CustomerDirectory` port against both adapters: the demo file and DynamoDB (moto).

use servicekanal_shared::ports::directory::{
    CustomerDirectory, CustomerRef, DemoDirectory, DynamoDirectory,
};
use servicekanal_testing::{moto_config, moto_customer_table};

/// Right number and password pass; a wrong password, an unknown or empty number do not.
async fn contract(directory: &dyn CustomerDirectory, expected_ref: &str) {
    assert_eq!(
        directory
            .verify("K-100 200 3", "Sommer2026!")
            .await
            .unwrap(),
        Some(CustomerRef(expected_ref.into()))
    );
    assert_eq!(
        directory.verify("K1002003", "Winter2026?").await.unwrap(),
        None
    );
    assert_eq!(
        directory.verify("K9999999", "Sommer2026!").await.unwrap(),
        None
    );
    assert_eq!(directory.verify("", "Sommer2026!").await.unwrap(), None);
    assert!(
        directory
            .verify("k2004005", "Winter2026?")
            .await
            .unwrap()
            .is_some(),
        "customer numbers are case-insensitive"
    );
}

#[tokio::test]
async fn demo_directory() {
    contract(&DemoDirectory::demo(), "K1002003").await;
}

#[tokio::test]
async fn dynamodb_directory() {
    let config = moto_config().await;
    let (client, table) = moto_customer_table(&config).await;
    contract(&DynamoDirectory::new(client, table), "CRM-K1002003").await;
}
