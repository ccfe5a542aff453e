//! TLS of the gateway's listener, with certificates re-read when their files change.
//!
//! Like etcd, the files are looked at again on a new handshake rather than by a file
//! watcher: a handshake checks the modification times (and sizes) of the certificate, key
//! and CA files at most once a second, and rebuilds the configuration when one changed. A
//! configuration that cannot be rebuilt (e.g. a key that does not match the certificate
//! while the files are being replaced) keeps the previous one in service, with a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::version::{TLS12, TLS13};
use tokio_rustls::rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::server::TlsStream;

use super::{TlsArgs, pem};

/// How often, at most, the files are checked for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The listener's TLS: the current configuration and where it came from.
#[derive(Debug)]
pub struct ServerTls {
    settings: Settings,
    current: Mutex<Current>,
}

/// What the flags say, files not read.
#[derive(Debug, Clone)]
struct Settings {
    cert_file: PathBuf,
    key_file: PathBuf,
    trusted_ca_file: Option<PathBuf>,
    client_cert_auth: bool,
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static SupportedProtocolVersion>,
}

#[derive(Debug)]
struct Current {
    config: Arc<ServerConfig>,
    stamps: Vec<FileStamp>,
    checked_at: Instant,
}

/// What identifies a file's version: its modification time and size (`None` if unreadable).
type FileStamp = Option<(SystemTime, u64)>;

impl ServerTls {
    /// The listener's TLS if `--cert-file` is given. Reads the files now: a problem with them
    /// stops the start.
    pub fn from_args(args: &TlsArgs) -> Result<Option<Self>> {
        let (Some(cert_file), Some(key_file)) = (&args.cert_file, &args.key_file) else {
            return Ok(None);
        };
        let settings = Settings {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            trusted_ca_file: args.trusted_ca_file.clone(),
            client_cert_auth: args.client_cert_auth,
            provider: Arc::new(provider(&args.cipher_suites)?),
            versions: versions(args.tls_min_version.as_deref())?,
        };
        let stamps = settings.stamps();
        let config = settings.build()?;
        Ok(Some(Self {
            settings,
            current: Mutex::new(Current {
                config,
                stamps,
                checked_at: Instant::now(),
            }),
        }))
    }

    /// The configuration for a new handshake, re-read first if a file changed.
    pub fn config(&self) -> Arc<ServerConfig> {
        let mut current = self.current.lock().unwrap_or_else(|err| err.into_inner());
        if current.checked_at.elapsed() >= RELOAD_CHECK_INTERVAL {
            current.checked_at = Instant::now();
            let stamps = self.settings.stamps();
            if stamps != current.stamps {
                match self.settings.build() {
                    Ok(config) => {
                        tracing::info!(
                            cert_file = %self.settings.cert_file.display(),
                            "TLS certificates reloaded"
                        );
                        current.config = config;
                        current.stamps = stamps;
                    }
                    Err(err) => tracing::warn!(
                        "keeping the previous TLS certificates: the changed files cannot be \
                         used: {err:#}"
                    ),
                }
            }
        }
        current.config.clone()
    }

    /// Runs the TLS handshake of an accepted connection.
    pub async fn accept(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        tokio_rustls::TlsAcceptor::from(self.config())
            .accept(tcp)
            .await
    }
}

impl Settings {
    fn files(&self) -> impl Iterator<Item = &Path> {
        [&self.cert_file, &self.key_file]
            .into_iter()
            .chain(&self.trusted_ca_file)
            .map(PathBuf::as_path)
    }

    fn stamps(&self) -> Vec<FileStamp> {
        self.files()
            .map(|path| {
                let metadata = std::fs::metadata(path).ok()?;
                Some((metadata.modified().ok()?, metadata.len()))
            })
            .collect()
    }

    /// Reads the files into a server configuration offering HTTP/2 and HTTP/1.1 by ALPN.
    fn build(&self) -> Result<Arc<ServerConfig>> {
        let chain = pem::certificates("--cert-file", &self.cert_file)?;
        let key = pem::private_key("--key-file", &self.key_file)?;
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .context("TLS settings")?;
        let builder = match (&self.trusted_ca_file, self.client_cert_auth) {
            (Some(ca_file), true) => {
                let mut roots = RootCertStore::empty();
                for certificate in pem::certificates("--trusted-ca-file", ca_file)? {
                    roots.add(certificate).with_context(|| {
                        format!(
                            "--trusted-ca-file {}: unusable CA certificate",
                            ca_file.display()
                        )
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                )
                .build()
                .context("--trusted-ca-file")?;
                builder.with_client_cert_verifier(verifier)
            }
            // As etcd: without --client-cert-auth, client certificates are not asked for.
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).with_context(|| {
            format!(
                "--cert-file {} and --key-file {} do not form a usable certificate",
                self.cert_file.display(),
                self.key_file.display()
            )
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The ring provider, its TLS 1.2 suites narrowed to `names` if any are given (TLS 1.3
/// suites are not configurable, as in etcd).
fn provider(names: &[String]) -> Result<CryptoProvider> {
    let mut provider = ring::default_provider();
    let names: Vec<&str> = names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(provider);
    }
    let tls12_name = |suite: &tokio_rustls::rustls::SupportedCipherSuite| {
        matches!(suite, tokio_rustls::rustls::SupportedCipherSuite::Tls12(_))
            .then(|| format!("{:?}", suite.suite()))
    };
    let known: Vec<String> = provider
        .cipher_suites
        .iter()
        .filter_map(tls12_name)
        .collect();
    if let Some(unknown) = names.iter().find(|name| !known.iter().any(|k| k == *name)) {
        bail!(
            "--cipher-suites: unsupported cipher suite {unknown:?}; supported: {}",
            known.join(", ")
        );
    }
    provider
        .cipher_suites
        .retain(|suite| tls12_name(suite).is_none_or(|name| names.contains(&name.as_str())));
    Ok(provider)
}

/// The protocol versions from `--tls-min-version` on.
fn versions(min_version: Option<&str>) -> Result<Vec<&'static SupportedProtocolVersion>> {
    match min_version.map(str::trim) {
        None | Some("") | Some("TLS1.2") => Ok(vec![&TLS13, &TLS12]),
        Some("TLS1.3") => Ok(vec![&TLS13]),
        Some(other @ ("TLS1.0" | "TLS1.1")) => {
            bail!(
                "--tls-min-version {other}: not supported (TLS 1.2 is the lowest), use TLS1.2 or TLS1.3"
            )
        }
        Some(other) => bail!("--tls-min-version {other:?}: expected TLS1.2 or TLS1.3"),
    }
}

#[cfg(test)]
mod tests {
    use super::{provider, versions};

    #[test]
    fn cipher_suites_narrow_tls12_only() {
        let all = provider(&[]).unwrap().cipher_suites.len();
        let narrowed = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()])
            .unwrap()
            .cipher_suites;
        // The three TLS 1.3 suites stay, one TLS 1.2 suite is left.
        assert_eq!(narrowed.len(), 4, "of {all}");
        let err = provider(&["TLS_RSA_WITH_RC4_128_SHA".to_owned()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--cipher-suites: unsupported cipher suite \"TLS_RSA_WITH_RC4_128_SHA\"; supported: TLS_"),
            "{err}"
        );
    }

    #[test]
    fn min_version() {
        assert_eq!(versions(None).unwrap().len(), 2);
        assert_eq!(versions(Some("TLS1.3")).unwrap().len(), 1);
        assert!(versions(Some("TLS1.1")).is_err());
        assert!(versions(Some("1.2")).is_err());
    }
}
