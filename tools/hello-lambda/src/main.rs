//! The smallest `lambda_runtime` function, built with the workspace's release profile: the
//! floor the cold-start benchmark compares every function with (`scripts/bench-coldstart`).
//! Not deployed.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
