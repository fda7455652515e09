//! How the PostgreSQL connection is configured: the connection string (with the libpq options
//! tokio-postgres does not know taken out) and TLS as libpq's `sslmode` means it.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::{PostgresTarget, PostgresTls, SslMode};

/// The driver's configuration, its `sslmode`, and a `sslrootcert` named in the connection string.
pub(super) fn client_config(
    target: &PostgresTarget,
) -> Result<(tokio_postgres::Config, SslMode, Option<PathBuf>), String> {
    let (mut config, sslmode, root_cert) = match target {
        PostgresTarget::Url(url) => {
            let libpq = LibpqOptions::take_from(url);
            let config: tokio_postgres::Config = libpq.rest.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
            let sslmode = match (libpq.verify, config.get_ssl_mode()) {
                (true, _) => SslMode::VerifyFull,
                (false, tokio_postgres::config::SslMode::Disable) => SslMode::Disable,
                (false, tokio_postgres::config::SslMode::Require) => SslMode::Require,
                (false, _) => SslMode::Prefer,
            };
            (config, sslmode, libpq.root_cert)
        }
        PostgresTarget::Parts { host, port, user, password, dbname, sslmode } => {
            let mut c = tokio_postgres::Config::new();
            c.host(host).port(*port).user(user).password(password).dbname(dbname);
            (c, *sslmode, None)
        }
    };
    config.ssl_mode(match sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
    });
    Ok((config, sslmode, root_cert))
}

/// libpq options that tokio-postgres refuses, taken out of a connection string (URL or
/// `key=value` form): a verifying `sslmode` (left as `require`, which the driver knows) and
/// `sslrootcert`. Strings without them are passed on untouched.
#[derive(Debug, PartialEq, Eq)]
struct LibpqOptions {
    rest: String,
    verify: bool,
    root_cert: Option<PathBuf>,
}

impl LibpqOptions {
    fn take_from(conn: &str) -> Self {
        let mut found = Self { rest: conn.to_owned(), verify: false, root_cert: None };
        let needed = ["sslmode=verify-full", "sslmode=verify-ca", "sslrootcert="].iter().any(|o| conn.contains(o));
        if !needed {
            return found;
        }
        let is_url = conn.starts_with("postgres://") || conn.starts_with("postgresql://");
        let mut keep = |option: &str| match option.split_once('=') {
            Some(("sslmode", "verify-full" | "verify-ca")) => {
                found.verify = true;
                Some("sslmode=require".to_owned())
            }
            Some(("sslrootcert", path)) => {
                found.root_cert = Some(PathBuf::from(if is_url {
                    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
                } else {
                    path.to_owned()
                }));
                None
            }
            _ => Some(option.to_owned()),
        };
        let rest = match conn.split_once('?') {
            Some((base, query)) if is_url => {
                let kept: Vec<String> = query.split('&').filter_map(&mut keep).collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            _ if is_url => conn.to_owned(),
            _ => conn.split_whitespace().filter_map(&mut keep).collect::<Vec<_>>().join(" "),
        };
        found.rest = rest;
        found
    }
}

/// TLS as libpq does it: `prefer` and `require` encrypt without checking the server's
/// certificate; `verify-full` (or a `DB_SSL_ROOT_CERT`) checks it against the system's
/// certificate authorities and those of `DB_SSL_ROOT_CERT`, and the host name.
pub(super) fn connector(verify: bool, tls: &PostgresTls) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for PostgreSQL: {e}"))?;
    if !verify {
        let config =
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth();
        return Ok(MakeRustlsConnect::new(config));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = &tls.root_cert {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read certificates from DB_SSL_ROOT_CERT={shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("DB_SSL_ROOT_CERT={shown} holds no PEM certificate"));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("DB_SSL_ROOT_CERT={shown}: {e}"))?;
        }
    }
    Ok(MakeRustlsConnect::new(builder.with_root_certificates(roots).with_no_client_auth()))
}

/// libpq's `prefer`/`require`: the handshake's signatures are checked (the session is really
/// encrypted with the holder of the presented key), the certificate's issuer and name are not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An error with its causes (a TLS failure's reason sits in the source).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_only_options_are_taken_out_of_connection_strings() {
        let url = "postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a";
        assert_eq!(
            LibpqOptions::take_from(url),
            LibpqOptions {
                rest: "postgres://u:p@db:5432/x?sslmode=require&application_name=a".into(),
                verify: true,
                root_cert: Some("/etc/ca.pem".into()),
            }
        );
        let pairs = "host=db user=u sslmode=verify-ca sslrootcert=/etc/ca.pem";
        assert_eq!(
            LibpqOptions::take_from(pairs),
            LibpqOptions {
                rest: "host=db user=u sslmode=require".into(),
                verify: true,
                root_cert: Some("/etc/ca.pem".into())
            }
        );
        let plain = "host=db password='two words' sslmode=require";
        assert_eq!(LibpqOptions::take_from(plain), LibpqOptions { rest: plain.into(), verify: false, root_cert: None });
        assert_eq!(LibpqOptions::take_from("postgres://db/x?sslrootcert=ca.pem").rest, "postgres://db/x");
    }
}
