//! TLS to the upstream cluster: `https://` endpoints, verified with `--cacert` (or the
//! system's roots), presenting `--cert`/`--key` for mutual TLS.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::{TlsArgs, insecure::InsecureConnector, pem};
use crate::etcdserverpb::StatusRequest;
use crate::etcdserverpb::maintenance_client::MaintenanceClient;

/// How the gateway secures its connections to `https://` members.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    config: ClientTlsConfig,
    /// With `--insecure-skip-tls-verify`: the connector that dials `https://` members without
    /// verifying their certificates.
    insecure: Option<InsecureConnector>,
    /// Whether any upstream TLS flag was given (to warn when no endpoint uses TLS).
    configured: bool,
}

impl UpstreamTls {
    /// Reads `--cacert`, `--cert`, `--key` and `--insecure-skip-tls-verify`.
    pub fn from_args(args: &TlsArgs) -> Result<Self> {
        if args.insecure_skip_tls_verify && args.cacert.is_some() {
            bail!(
                "--insecure-skip-tls-verify and --cacert contradict each other: give the \
                 cluster's CA to verify the members, or skip verification, not both"
            );
        }
        let insecure = match (args.insecure_skip_tls_verify, &args.cert, &args.key) {
            (false, _, _) => None,
            (true, Some(cert), Some(key)) => Some(InsecureConnector::new(Some((
                pem::certificates("--cert", cert)?,
                pem::private_key("--key", key)?,
            )))?),
            (true, _, _) => Some(InsecureConnector::new(None)?),
        };
        let mut config = ClientTlsConfig::new();
        match &args.cacert {
            Some(path) => {
                pem::certificates("--cacert", path)?;
                config = config.ca_certificate(Certificate::from_pem(pem::read("--cacert", path)?));
            }
            None => config = config.with_native_roots(),
        }
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            pem::certificates("--cert", cert)?;
            pem::private_key("--key", key)?;
            config = config.identity(Identity::from_pem(
                pem::read("--cert", cert)?,
                pem::read("--key", key)?,
            ));
        }
        Ok(Self {
            config,
            insecure,
            configured: args.cacert.is_some()
                || args.cert.is_some()
                || args.insecure_skip_tls_verify,
        })
    }

    /// The URL tonic dials for the member at `url`: `url` itself, except that an `https://`
    /// member reached without certificate verification is dialled as `http://` (our connector
    /// does the TLS, see [`super::insecure`]).
    pub fn dial_url(&self, url: &str) -> String {
        match (&self.insecure, url.strip_prefix("https://")) {
            (Some(_), Some(rest)) => format!("http://{rest}"),
            _ => url.to_owned(),
        }
    }

    /// A lazily connected channel to the member at `url` (as given) through `endpoint` (built
    /// from [`Self::dial_url`] and [`Self::apply`]).
    pub fn connect_lazy(&self, url: &str, endpoint: Endpoint) -> Channel {
        match &self.insecure {
            Some(connector) if url.trim().starts_with("https://") => {
                connector.connect_lazy(endpoint)
            }
            _ => endpoint.connect_lazy(),
        }
    }

    /// `endpoint` with TLS if its URL is `https://`; `http://` endpoints are left as they are.
    pub fn apply(&self, endpoint: Endpoint) -> Result<Endpoint> {
        if endpoint.uri().scheme_str() != Some("https") {
            return Ok(endpoint);
        }
        let uri = endpoint.uri().to_string();
        endpoint
            .tls_config(self.config.clone())
            .with_context(|| format!("TLS settings for {uri}"))
    }

    /// Checks in the background that the first `https://` member of `endpoints` accepts the
    /// TLS settings (one `Maintenance.Status` call), and warns on stderr if it does not. The
    /// start is never held up or failed by it. Warns too when TLS flags are given but no
    /// endpoint is `https://`.
    pub fn spawn_probe(&self, endpoints: &[String], dial_timeout: Duration) {
        let Some(url) = endpoints
            .iter()
            .map(|url| url.trim())
            .find(|url| url.starts_with("https://"))
        else {
            if self.configured {
                tracing::warn!(
                    "--cacert/--cert/--key are given but no endpoint is https://: the \
                     connections to the cluster are not encrypted"
                );
            }
            return;
        };
        let url = url.to_owned();
        let tls = self.clone();
        tokio::spawn(async move {
            match tls.probe(&url, dial_timeout).await {
                Ok(()) => tracing::debug!(%url, "upstream member accepts the TLS settings"),
                Err(err) => {
                    let problem = describe(&err);
                    let hint = hint(&problem);
                    tracing::warn!("upstream member {url} cannot be reached: {problem}{hint}");
                }
            }
        });
    }

    async fn probe(&self, url: &str, dial_timeout: Duration) -> Result<()> {
        let endpoint = Endpoint::from_shared(self.dial_url(url))
            .with_context(|| format!("invalid endpoint {url:?}"))?
            .connect_timeout(dial_timeout)
            .timeout(dial_timeout);
        let channel = self.connect_lazy(url, self.apply(endpoint)?);
        let call = async {
            MaintenanceClient::new(channel)
                .status(StatusRequest {})
                .await?;
            anyhow::Ok(())
        };
        tokio::time::timeout(dial_timeout * 2, call)
            .await
            .with_context(|| format!("no answer within {:?}", dial_timeout * 2))?
    }
}

/// The error and its sources, `: `-separated, without the generic "transport error" and
/// without repeating a source that its parent already printed.
fn describe(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<tonic::Status>() {
            Some(status) => status.message().to_owned(),
            None => cause.to_string(),
        };
        if text == "transport error" || parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

/// What to check for a known TLS failure, as ` (...)`, or nothing.
fn hint(problem: &str) -> &'static str {
    let problem = problem.to_ascii_lowercase();
    let mentions = |words: &[&str]| words.iter().any(|word| problem.contains(word));
    if mentions(&["unknownissuer", "unknown issuer"]) {
        " (the member's certificate is not signed by --cacert)"
    } else if mentions(&["notvalidforname", "not valid for name"]) {
        " (the member's certificate does not name the endpoint's host)"
    } else if mentions(&["expired", "notvalidyet", "not valid yet"]) {
        " (the member's certificate is outside its validity period)"
    } else if mentions(&["fatal alert"]) {
        " (the member refused the TLS connection: check --cert and --key against its \
         --trusted-ca-file, and their validity)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::{describe, hint};

    #[test]
    fn problems_are_described_once_with_a_hint() {
        let err = anyhow::Error::new(tonic::Status::unavailable(
            "invalid peer certificate: UnknownIssuer",
        ))
        .context("transport error");
        let problem = describe(&err);
        assert_eq!(problem, "invalid peer certificate: UnknownIssuer");
        assert_eq!(
            hint(&problem),
            " (the member's certificate is not signed by --cacert)"
        );
        assert_eq!(hint("connection refused"), "");
    }
}
