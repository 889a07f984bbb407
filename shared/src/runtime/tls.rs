//! The certificate authorities the functions trust for HTTPS (the AWS endpoints and WhatsApp's
//! Graph API): Mozilla's root programme as compiled into `webpki-root-certs`, not the system's
//! store. Loading the system's store (`rustls-native-certs`: the bundle and then every file of
//! `/etc/ssl/certs`, so each authority parsed twice, about 300 files) was most of a cold
//! start's CPU, competing with the runtime's start on the same cores
//! (docs/performance.md#cold-start). The compiled-in set is what `webpki-roots` users trust;
//! it is updated with the crate.

use base64::Engine;
use std::sync::{Arc, LazyLock};

/// Every trusted root certificate as PEM, for the AWS SDK's trust store (which takes PEM).
pub fn root_certificates_pem() -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in engine.encode(certificate.as_ref()).as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    pem
}

/// The TLS set-up of the Graph API client: the same roots and the same cryptography (aws-lc)
/// as the SDK's; built once per process.
pub fn client_config() -> rustls::ClientConfig {
    static CONFIG: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
    });
    CONFIG.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_pem_holds_every_root_and_reads_back_as_the_same_certificates() {
        let pem = root_certificates_pem();
        let read: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert!(read.len() > 100, "{} roots", read.len());
        assert_eq!(read.as_slice(), webpki_root_certs::TLS_SERVER_ROOT_CERTS);
        // The authorities behind the AWS endpoints and graph.facebook.com are among them.
        let mut store = rustls::RootCertStore::empty();
        let (added, refused) = store.add_parsable_certificates(read);
        assert_eq!(refused, 0);
        assert_eq!(added, webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
    }

    #[test]
    fn the_authorities_of_aws_and_the_graph_api_are_trusted() {
        let subject_named = |name: &str| {
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .any(|c| c.as_ref().windows(name.len()).any(|w| w == name.as_bytes()))
        };
        // AWS endpoints chain to Amazon's roots (cross-signed by Starfield); graph.facebook.com
        // to DigiCert's.
        for name in [
            "Amazon Root CA 1",
            "Starfield Services Root Certificate Authority - G2",
            "DigiCert Global Root G2",
        ] {
            assert!(subject_named(name), "{name} is trusted");
        }
        assert!(!client_config().crypto_provider().cipher_suites.is_empty());
    }
}
