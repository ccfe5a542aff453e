//! TLS on both sides of the gateway, configured with etcd's flag names.
//!
//! * [`upstream`]: the connection to the cluster (`--cacert`, `--cert`, `--key`, `https://`
//!   endpoints), as etcd's grpc-proxy names these flags; plus a start-up probe that warns
//!   about a certificate problem without failing the start.
//! * [`server`]: the gateway's own listener (`--cert-file`, `--key-file`,
//!   `--trusted-ca-file`, `--client-cert-auth`, `--cipher-suites`, `--tls-min-version`), as
//!   etcd's server names them, with certificates re-read when their files change.
//! * [`pem`]: reading certificates and keys from PEM files, with errors that name the flag.

pub mod insecure;
pub mod pem;
pub mod server;
pub mod upstream;

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

pub use server::ServerTls;
pub use upstream::UpstreamTls;

/// The TLS flags of both sides.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// CA bundle (PEM) that verifies the upstream members' certificates (https:// endpoints);
    /// without it, the system's roots.
    #[arg(long, env = "ETCD_GATEWAY_CACERT", help_heading = "Upstream TLS")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM) presented to the upstream members (with --key).
    #[arg(
        long,
        env = "ETCD_GATEWAY_CERT",
        requires = "key",
        help_heading = "Upstream TLS"
    )]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(
        long,
        env = "ETCD_GATEWAY_KEY",
        requires = "cert",
        help_heading = "Upstream TLS"
    )]
    pub key: Option<PathBuf>,

    /// Encrypt the connections to `https://` members without verifying their certificates
    /// (test clusters only: the members are not authenticated). Not with --cacert.
    #[arg(
        long,
        env = "ETCD_GATEWAY_INSECURE_SKIP_TLS_VERIFY",
        help_heading = "Upstream TLS"
    )]
    pub insecure_skip_tls_verify: bool,

    /// Certificate chain (PEM) the gateway serves; turns TLS on for --listen-addr (with
    /// --key-file). Re-read when the file changes.
    #[arg(
        long,
        env = "ETCD_GATEWAY_CERT_FILE",
        requires = "key_file",
        help_heading = "Client-facing TLS"
    )]
    pub cert_file: Option<PathBuf>,

    /// Private key (PEM) of --cert-file. Re-read when the file changes.
    #[arg(
        long,
        env = "ETCD_GATEWAY_KEY_FILE",
        requires = "cert_file",
        help_heading = "Client-facing TLS"
    )]
    pub key_file: Option<PathBuf>,

    /// CA bundle (PEM) that verifies client certificates (with --client-cert-auth).
    #[arg(
        long,
        env = "ETCD_GATEWAY_TRUSTED_CA_FILE",
        requires = "cert_file",
        help_heading = "Client-facing TLS"
    )]
    pub trusted_ca_file: Option<PathBuf>,

    /// Require every client to present a certificate signed by --trusted-ca-file.
    #[arg(
        long,
        env = "ETCD_GATEWAY_CLIENT_CERT_AUTH",
        requires = "trusted_ca_file",
        help_heading = "Client-facing TLS"
    )]
    pub client_cert_auth: bool,

    /// Comma-separated TLS 1.2 cipher suites to accept, by their IANA names (e.g.
    /// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); TLS 1.3 suites are always on, as in etcd.
    #[arg(
        long,
        env = "ETCD_GATEWAY_CIPHER_SUITES",
        value_delimiter = ',',
        requires = "cert_file",
        help_heading = "Client-facing TLS"
    )]
    pub cipher_suites: Vec<String>,

    /// Lowest TLS version accepted from clients: TLS1.2 or TLS1.3 [default: TLS1.2].
    #[arg(
        long,
        env = "ETCD_GATEWAY_TLS_MIN_VERSION",
        requires = "cert_file",
        help_heading = "Client-facing TLS"
    )]
    pub tls_min_version: Option<String>,
}

impl TlsArgs {
    /// The TLS settings for the upstream connection (files read now).
    pub fn upstream(&self) -> Result<UpstreamTls> {
        UpstreamTls::from_args(self)
    }

    /// The listener's TLS, if --cert-file is given (files read now; errors are fatal at
    /// start, later reload errors only warn).
    pub fn server(&self) -> Result<Option<ServerTls>> {
        ServerTls::from_args(self)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use crate::config::Config;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("etcd-gateway").chain(args.iter().copied()))
    }

    #[test]
    fn flags_that_need_a_partner_are_refused_alone() {
        for args in [
            &["--cert", "c.pem"][..],
            &["--key", "k.pem"],
            &["--cert-file", "c.pem"],
            &["--key-file", "k.pem"],
            &[
                "--cert-file",
                "c.pem",
                "--key-file",
                "k.pem",
                "--client-cert-auth",
            ],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{args:?}");
        }
        let config = parse(&[
            "--cert-file",
            "c.pem",
            "--key-file",
            "k.pem",
            "--trusted-ca-file",
            "ca.pem",
            "--client-cert-auth",
            "--cipher-suites",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ])
        .unwrap();
        assert!(config.tls.client_cert_auth);
        assert_eq!(config.tls.cipher_suites.len(), 2);
    }
}
