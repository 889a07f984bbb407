//! Where an ops command acts: a running local stack (its control API), or the table in AWS.
//! The sales commands (`callbacks`), the privacy commands (`erase`, `export`, `holds`) and
//! Lisa's review (`review`) add their operations to the one `Backend`.

use crate::control::ControlApi;
use anyhow::{Context, Result};
use servicekanal_shared::domain::keys::Pseudonymizer;
use servicekanal_shared::ports::objects::ObjectStore;
use servicekanal_shared::ports::objects::s3::S3Bucket;
use servicekanal_shared::ports::store::Store;
use servicekanal_shared::runtime;
use std::sync::Arc;

pub enum Backend {
    /// A running `servicekanal dev`.
    Local(ControlApi),
    /// The single table in AWS.
    Aws {
        store: Arc<dyn Store>,
        /// From the service secret (`--secret`): what finds a person by phone number or user
        /// id. Only the privacy commands need it.
        pseudonymizer: Option<Pseudonymizer>,
        /// The stack's bucket (`--bucket`): Lisa's labelled examples. Only `review` needs it.
        objects: Option<Arc<dyn ObjectStore>>,
    },
}

impl Backend {
    /// The table named `table` (credentials and region from the environment), and the pseudonym
    /// key from the secret `secret` (its ARN or name) if given.
    pub async fn aws(table: &str, secret: Option<&str>) -> Result<Self> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let pseudonymizer = match secret {
            Some(secret) => {
                let secrets = runtime::service_secrets(&aws, secret)
                    .await
                    .context("reading the service secret")?;
                Some(runtime::pseudonymizer_of(&secrets)?)
            }
            None => None,
        };
        Ok(Backend::Aws {
            store: Arc::new(runtime::table_store(&aws, table)),
            pseudonymizer,
            objects: None,
        })
    }

    /// The table's backend with the stack's bucket `bucket` (credentials from the environment).
    pub async fn aws_with_bucket(table: &str, bucket: &str) -> Result<Self> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Backend::Aws {
            store: Arc::new(runtime::table_store(&aws, table)),
            pseudonymizer: None,
            objects: Some(Arc::new(S3Bucket::new(
                aws_sdk_s3::Client::new(&aws),
                bucket,
            ))),
        })
    }
}
