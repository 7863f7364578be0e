//! TLS client set-up for `https://` targets: every rustls concern lives here.
//!
//! This module owns building the one `rustls::ClientConfig` a run uses (ring
//! provider, ALPN `http/1.1`, Mozilla and/or system roots plus `--ca-file`,
//! or the `--insecure` verifier), the server name sent as SNI, and turning a
//! failed handshake into a message that says what to do next. It is called
//! once per run, before the clock starts; nothing here runs per request.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::config::{FlagError, Target, TlsOptions, TlsRoots};

/// The only application protocol audioperf speaks on a TLS connection.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// A TLS option that cannot be used: which flag, and why. The same type as
/// every other configuration error; this name is kept for the engine's use.
pub type TlsSetupError = FlagError;

/// The ring provider, chosen explicitly so nothing depends on a process-wide
/// default provider being installed.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for a run: built once, shared by every worker.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, FlagError> {
    let provider = provider();
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FlagError::new("--url", format!("TLS set-up failed: {e}")))?;
    let mut config = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { algs }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(opts)?)
            .with_no_client_auth()
    };
    // Offer only HTTP/1.1 so a server that also speaks h2 never picks it.
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// The trust anchors `opts` asks for: `--tls-roots` plus `--ca-file`.
pub fn root_store(opts: &TlsOptions) -> Result<RootCertStore, FlagError> {
    let mut store = RootCertStore::empty();
    if matches!(opts.roots, TlsRoots::Webpki | TlsRoots::Both) {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if matches!(opts.roots, TlsRoots::System | TlsRoots::Both) {
        let native = rustls_native_certs::load_native_certs();
        let (added, _unparsable) = store.add_parsable_certificates(native.certs);
        // With `both`, Mozilla's roots still stand; with `system` alone an
        // empty store would fail every handshake, so say so now.
        if added == 0 && opts.roots == TlsRoots::System {
            let why = native
                .errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            return Err(FlagError::new(
                "--tls-roots",
                format!(
                    "no usable certificates in the system store{why}; \
                     use --tls-roots webpki or --ca-file PATH"
                ),
            ));
        }
    }
    if let Some(path) = &opts.ca_file {
        for (i, cert) in load_ca_file(path)?.into_iter().enumerate() {
            store.add(cert).map_err(|e| {
                FlagError::new(
                    "--ca-file",
                    format!(
                        "certificate {} in '{}' cannot be a trust anchor: {e}",
                        i + 1,
                        path.display()
                    ),
                )
            })?;
        }
    }
    Ok(store)
}

/// Reads the certificates of a CA file: PEM (any number of `CERTIFICATE`
/// blocks; other blocks such as keys are skipped) or one DER certificate.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, FlagError> {
    let bytes = std::fs::read(path).map_err(|e| {
        FlagError::new(
            "--ca-file",
            format!("cannot read '{}': {e}", path.display()),
        )
    })?;
    let certs = parse_certificates(&bytes)
        .map_err(|m| FlagError::new("--ca-file", format!("'{}': {m}", path.display())))?;
    Ok(certs)
}

/// PEM certificates in `bytes`, or the whole of `bytes` as one DER
/// certificate when it holds no PEM at all and starts like one.
fn parse_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a valid PEM file: {e}"))?;
    if !certs.is_empty() {
        return Ok(certs);
    }
    // 0x30 is an ASN.1 SEQUENCE: the first byte of every DER certificate.
    if bytes.first() == Some(&0x30) && !bytes.windows(5).any(|w| w == b"-----") {
        return Ok(vec![CertificateDer::from(bytes.to_vec())]);
    }
    Err("no certificates found (expected PEM '-----BEGIN CERTIFICATE-----' blocks)".into())
}

/// The name sent as SNI and checked against the certificate: `--tls-server-name`
/// when given, else the URL's host (an IP address sends no SNI, as RFC 6066 says).
pub fn server_name(target: &Target, opts: &TlsOptions) -> Result<ServerName<'static>, FlagError> {
    let (flag, name) = match &opts.server_name {
        Some(n) => ("--tls-server-name", n.as_str()),
        None => ("--url", target.host.as_str()),
    };
    let bare = name.trim().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| {
        FlagError::new(
            flag,
            format!("'{name}' is not a valid TLS server name (a DNS name or an IP address)"),
        )
    })
}

/// A failed handshake in words, with the flag that would fix the usual causes.
pub fn describe_handshake_error(e: &io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    let Some(tls) = inner else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                "TLS handshake failed: the server closed the connection".into()
            }
            _ => format!("TLS handshake failed: {e}"),
        };
    };
    let hint = match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                " (the server's certificate is not signed by a trusted CA: pass its CA with \
                 --ca-file PATH, try --tls-roots system, or --insecure for a lab server)"
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                " (connect by the certificate's name, or set it with --tls-server-name NAME)"
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                " (check the clock, or use --insecure for a lab server)"
            }
            _ => "",
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            " (is the server speaking plain HTTP? then use an http:// URL)"
        }
        rustls::Error::NoApplicationProtocol => " (the server does not accept ALPN http/1.1)",
        _ => "",
    };
    format!("TLS handshake failed: {tls}{hint}")
}

/// `--insecure`: accepts any certificate chain for any name, for self-signed
/// lab servers. Handshake signatures are still checked with the provider's
/// algorithms, so the peer must hold the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scheme;
    use std::io::Write;

    fn target(host: &str) -> Target {
        Target {
            scheme: Scheme::Https,
            host: host.into(),
            port: 443,
            host_header: host.into(),
            base_path: String::new(),
            query: String::new(),
        }
    }

    fn self_signed() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("rcgen generates a certificate")
    }

    fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(bytes).expect("write temp file");
        f
    }

    #[test]
    fn default_config_has_webpki_roots_and_alpn() {
        let store = root_store(&TlsOptions::default()).unwrap();
        assert_eq!(store.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(store.len() > 100, "{}", store.len());
        let cfg = client_config(&TlsOptions::default()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let insecure = client_config(&TlsOptions {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(insecure.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn ca_file_adds_its_certificates() {
        let a = self_signed();
        let b = self_signed();
        // Two certificates and a key block (skipped) in one PEM file.
        let pem = format!(
            "{}{}{}",
            a.cert.pem(),
            a.key_pair.serialize_pem(),
            b.cert.pem()
        );
        let f = temp_with(pem.as_bytes());
        let certs = load_ca_file(f.path()).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].as_ref(), a.cert.der().as_ref());
        assert_eq!(certs[1].as_ref(), b.cert.der().as_ref());
        let opts = TlsOptions {
            ca_file: Some(f.path().to_path_buf()),
            ..Default::default()
        };
        let n_webpki = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(root_store(&opts).unwrap().len(), n_webpki + 2);
        // A DER file holds exactly one certificate.
        let der = temp_with(a.cert.der());
        let certs = load_ca_file(der.path()).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), a.cert.der().as_ref());
    }

    #[test]
    fn ca_file_errors_name_the_flag() {
        let missing = TlsOptions {
            ca_file: Some("/nonexistent/audioperf-ca.pem".into()),
            ..Default::default()
        };
        let e = client_config(&missing).unwrap_err();
        assert_eq!(e.flag, "--ca-file");
        assert!(
            e.message
                .starts_with("cannot read '/nonexistent/audioperf-ca.pem'"),
            "{e}"
        );
        assert!(e.to_string().starts_with("--ca-file: "));

        let text = temp_with(b"just some text\n");
        let e = load_ca_file(text.path()).unwrap_err();
        assert_eq!(e.flag, "--ca-file");
        assert!(e.message.contains("no certificates found"), "{e}");

        // A key alone is PEM but not a certificate.
        let key = temp_with(self_signed().key_pair.serialize_pem().as_bytes());
        let e = load_ca_file(key.path()).unwrap_err();
        assert!(e.message.contains("no certificates found"), "{e}");

        let broken = temp_with(b"-----BEGIN CERTIFICATE-----\nAAAA\n");
        let e = load_ca_file(broken.path()).unwrap_err();
        assert!(e.message.contains("not a valid PEM file"), "{e}");

        // Well-formed PEM whose payload is not a certificate.
        let junk = temp_with(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let e = client_config(&TlsOptions {
            ca_file: Some(junk.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.flag, "--ca-file");
        assert!(e.message.contains("certificate 1 in"), "{e}");
    }

    #[test]
    fn server_names() {
        let opts = TlsOptions::default();
        assert_eq!(
            server_name(&target("example.com"), &opts).unwrap(),
            ServerName::try_from("example.com").unwrap()
        );
        let ip = server_name(&target("::1"), &opts).unwrap();
        assert!(matches!(ip, ServerName::IpAddress(_)), "{ip:?}");
        let ip4 = server_name(&target("127.0.0.1"), &opts).unwrap();
        assert!(matches!(ip4, ServerName::IpAddress(_)), "{ip4:?}");
        let over = TlsOptions {
            server_name: Some("api.internal".into()),
            ..Default::default()
        };
        assert_eq!(
            server_name(&target("10.0.0.2"), &over).unwrap(),
            ServerName::try_from("api.internal").unwrap()
        );
        let bad = TlsOptions {
            server_name: Some("bad name!".into()),
            ..Default::default()
        };
        let e = server_name(&target("h"), &bad).unwrap_err();
        assert_eq!(e.flag, "--tls-server-name");
        assert!(e.message.contains("'bad name!'"), "{e}");
    }

    #[test]
    fn insecure_verifier_accepts_any_chain_but_checks_schemes() {
        let v = AcceptAnyServerCert {
            algs: provider().signature_verification_algorithms,
        };
        let key = self_signed();
        let name = ServerName::try_from("not-the-cert-name.example").unwrap();
        assert!(v
            .verify_server_cert(key.cert.der(), &[], &name, &[], UnixTime::now())
            .is_ok());
        let schemes = v.supported_verify_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
        assert!(schemes.contains(&SignatureScheme::RSA_PSS_SHA256));
        assert!(schemes.contains(&SignatureScheme::ED25519));
    }

    #[test]
    fn handshake_errors_in_words() {
        let unknown = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let m = describe_handshake_error(&unknown);
        assert!(
            m.starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer (")
                && m.contains("--ca-file"),
            "{m}"
        );
        let name = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
        );
        assert!(describe_handshake_error(&name).contains("--tls-server-name"));
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "tls handshake eof");
        assert_eq!(
            describe_handshake_error(&eof),
            "TLS handshake failed: the server closed the connection"
        );
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(describe_handshake_error(&reset).starts_with("TLS handshake failed: "));
    }
}
