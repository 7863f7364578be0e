//! HTTPS for the mock server: builds the rustls `ServerConfig` (ring
//! provider, ALPN `http/1.1`) from PEM files given with `--tls-cert` and
//! `--tls-key`, or from a certificate for 127.0.0.1/localhost generated at
//! start-up with `--tls-self-signed` (its PEM written to `--tls-cert-out`, so
//! a client can trust exactly that certificate).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::MockServerArgs;

/// A generated certificate and its key, both PEM.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A fresh self-signed certificate for `127.0.0.1` and `localhost`.
pub fn self_signed() -> anyhow::Result<SelfSigned> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .context("cannot generate a self-signed certificate")?;
    Ok(SelfSigned {
        cert_pem: ck.cert.pem(),
        key_pem: ck.key_pair.serialize_pem(),
    })
}

/// The TLS configuration the arguments ask for, or None for plain HTTP.
pub fn server_config(args: &MockServerArgs) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    let (certs, key) = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (None, None, false) => return Ok(None),
        (Some(_), Some(_), true) => {
            anyhow::bail!("--tls-self-signed cannot be combined with --tls-cert/--tls-key")
        }
        (Some(cert), Some(key), false) => (load_certs(cert)?, load_key(key)?),
        (None, None, true) => {
            let s = self_signed()?;
            if let Some(out) = &args.tls_cert_out {
                std::fs::write(out, &s.cert_pem)
                    .with_context(|| format!("--tls-cert-out: cannot write {}", out.display()))?;
            }
            let der = CertificateDer::from_pem_slice(s.cert_pem.as_bytes())
                .context("generated certificate")?;
            let key = PrivatePkcs8KeyDer::from_pem_slice(s.key_pem.as_bytes())
                .context("generated key")?;
            (vec![der], PrivateKeyDer::Pkcs8(key))
        }
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(cfg)))
}

fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("--tls-cert: cannot read {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("--tls-cert: bad PEM in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("--tls-cert: no certificate in {}", path.display());
    }
    Ok(certs)
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("--tls-key: no usable private key in {}", path.display()))
}
