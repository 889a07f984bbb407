//! The `CustomerDirectory` port: checks a customer number and password against the CRM. The
//! local adapter is a demo directory holding only argon2 password hashes.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Argon2, PasswordHasher};
use async_trait::async_trait;
use serde::Deserialize;

/// The demo customers of the local stack (see the README for their passwords).
pub const DEMO_CUSTOMERS: &str = include_str!("../../data/demo-customers.toml");

/// A customer found by number and password: the reference agents work with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef(pub String);

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("the customer directory is malformed: {0}")]
    Malformed(String),
    #[error("the customer directory failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    /// The customer with this number, if the password is theirs. A wrong number and a wrong
    /// password look the same to the caller.
    async fn verify(
        &self,
        customer_number: &str,
        password: &str,
    ) -> Result<Option<CustomerRef>, DirectoryError>;
}

#[derive(Clone, Debug, Deserialize)]
pub struct DemoCustomer {
    pub customer_number: String,
    /// Only for showing the persona in the local stack.
    pub display_name: String,
    /// PHC string of an argon2 hash; the password itself is never stored.
    pub password_hash: String,
}

#[derive(Debug, Deserialize)]
struct DemoFile {
    customer: Vec<DemoCustomer>,
}

#[derive(Clone, Debug)]
pub struct DemoDirectory {
    customers: Vec<DemoCustomer>,
}

impl DemoDirectory {
    pub fn from_toml(text: &str) -> Result<Self, DirectoryError> {
        let file: DemoFile =
            toml::from_str(text).map_err(|e| DirectoryError::Malformed(e.to_string()))?;
        for c in &file.customer {
            PasswordHash::new(&c.password_hash).map_err(|e| {
                DirectoryError::Malformed(format!("customer {}: {e}", c.customer_number))
            })?;
        }
        Ok(Self {
            customers: file.customer,
        })
    }

    pub fn demo() -> Self {
        Self::from_toml(DEMO_CUSTOMERS).expect("the shipped demo directory is valid (tested)")
    }

    pub fn customers(&self) -> &[DemoCustomer] {
        &self.customers
    }
}

/// Normalises a customer number as people type it: `K-100 200 3` is `K1002003`.
pub fn normalize_customer_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase()
}

/// An argon2 hash (PHC string) of a password, for maintaining the demo directory.
pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    use argon2::password_hash::SaltString;
    use argon2::password_hash::rand_core::OsRng;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::Backend(e.to_string()))
}

#[async_trait]
impl CustomerDirectory for DemoDirectory {
    async fn verify(
        &self,
        customer_number: &str,
        password: &str,
    ) -> Result<Option<CustomerRef>, DirectoryError> {
        let number = normalize_customer_number(customer_number);
        let customer = self
            .customers
            .iter()
            .find(|c| normalize_customer_number(&c.customer_number) == number);
        // An unknown number checks the decoy, as the DynamoDB directory does: same time.
        let stored_hash = customer.map(|c| c.password_hash.as_str());
        Ok(check_password(stored_hash, password)?.then_some(CustomerRef(number)))
    }
}

/// A valid argon2 hash of a random password nobody kept: checked when the number is unknown,
/// so an unknown number costs exactly what a wrong password costs (same algorithm, the
/// default parameters `hash_password` and `servicekanal hash-password` use, a 16-byte salt,
/// a 32-byte output; tested) and reveals nothing. A directory whose hashes use other
/// parameters needs a decoy made with those.
pub const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$TlHz7LiY25Xl4Uts17GBSw$ful183U1yc82qK14h+A/OSN1lb2ZpA2A2nCqaUpv2rQ";

/// Whether `password` matches the stored hash; `None` checks a decoy and says no.
pub fn check_password(stored_hash: Option<&str>, password: &str) -> Result<bool, DirectoryError> {
    let hash = PasswordHash::new(stored_hash.unwrap_or(DECOY_HASH))
        .map_err(|e| DirectoryError::Malformed(e.to_string()))?;
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok();
    Ok(matches && stored_hash.is_some())
}

/// The CRM stand-in in AWS: a DynamoDB table keyed by `customer_number`, holding the
/// `password_hash` (argon2 PHC string) and the `customer_ref` agents work with.
#[derive(Clone, Debug)]
pub struct DynamoDirectory {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDirectory {
    pub const NUMBER: &'static str = "customer_number";
    pub const PASSWORD_HASH: &'static str = "password_hash";
    pub const CUSTOMER_REF: &'static str = "customer_ref";
    /// What an empty customer number is looked up as: no customer's number.
    const NO_NUMBER: &'static str = "-";

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl CustomerDirectory for DynamoDirectory {
    async fn verify(
        &self,
        customer_number: &str,
        password: &str,
    ) -> Result<Option<CustomerRef>, DirectoryError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let number = normalize_customer_number(customer_number);
        // An empty number is looked up too (as a key no customer has: normalised numbers are
        // letters and digits only), so it takes the same round trip as any other.
        let lookup = if number.is_empty() {
            Self::NO_NUMBER.to_owned()
        } else {
            number.clone()
        };
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(Self::NUMBER, AttributeValue::S(lookup))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                DirectoryError::Backend(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?
            .item;
        let text = |name: &str| {
            item.as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        let hash = text(Self::PASSWORD_HASH);
        if item.is_some() && hash.is_none() {
            return Err(DirectoryError::Malformed(format!(
                "a customer item has no {}",
                Self::PASSWORD_HASH
            )));
        }
        if !check_password(hash.as_deref(), password)? {
            return Ok(None);
        }
        Ok(Some(CustomerRef(
            text(Self::CUSTOMER_REF).unwrap_or(number),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_customers_authenticate_with_their_password_only() {
        let directory = DemoDirectory::demo();
        assert!(!directory.customers().is_empty());
        assert_eq!(
            directory
                .verify("K-100 200 3", "Sommer2026!")
                .await
                .unwrap(),
            Some(CustomerRef("K1002003".into()))
        );
        assert_eq!(
            directory.verify("K1002003", "sommer2026!").await.unwrap(),
            None
        );
        assert_eq!(
            directory.verify("K9999999", "Sommer2026!").await.unwrap(),
            None
        );
        assert!(
            !DEMO_CUSTOMERS.contains("Sommer2026!"),
            "only hashes are stored"
        );
    }

    #[test]
    fn an_unknown_number_checks_the_decoy_and_says_no() {
        assert!(!check_password(None, "Sommer2026!").unwrap());
        assert!(!check_password(None, "").unwrap());
    }

    /// The decoy costs what a real check costs: the same algorithm and parameters as every
    /// demo customer's hash and as `hash_password`, and a salt and output of the same size.
    #[test]
    fn the_decoy_hash_costs_what_a_customers_hash_costs() {
        use argon2::Params;
        let shape = |phc: &str| {
            let hash = PasswordHash::new(phc).unwrap();
            let p = Params::try_from(&hash).unwrap();
            let costs = (p.m_cost(), p.t_cost(), p.p_cost());
            let salt = hash.salt.unwrap().as_str().len();
            let output = hash.hash.unwrap().len();
            (
                hash.algorithm.to_string(),
                hash.version,
                costs,
                salt,
                output,
            )
        };
        let decoy = shape(DECOY_HASH);
        assert_eq!(decoy.0, "argon2id");
        let default = Params::default();
        assert_eq!(
            decoy.2,
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(decoy, shape(&hash_password("irgendwas").unwrap()));
        for customer in DemoDirectory::demo().customers() {
            assert_eq!(
                decoy,
                shape(&customer.password_hash),
                "customer {}",
                customer.customer_number
            );
        }
    }

    #[test]
    fn a_hash_that_is_not_argon2_is_refused() {
        let err = DemoDirectory::from_toml(
            "[[customer]]\ncustomer_number = \"K1\"\ndisplay_name = \"X\"\npassword_hash = \"secret\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, DirectoryError::Malformed(_)));
    }
}
