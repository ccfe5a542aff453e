//! The target etcd cluster: one member's gRPC connection and the calls the migration makes.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::{MigrateArgs, PAGE_SIZE};
use crate::etcdserverpb::auth_client::AuthClient;
use crate::etcdserverpb::kv_client::KvClient;
use crate::etcdserverpb::lease_client::LeaseClient;
use crate::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::etcdserverpb::{AuthenticateRequest, RangeRequest, StatusRequest};
use crate::mvccpb::KeyValue;
use crate::tls::{TlsArgs, UpstreamTls};
use crate::upstream::EndpointOptions;
use crate::upstream::endpoint::endpoint;

/// Interval of HTTP/2 keepalive pings to the member.
const KEEPALIVE_TIME: Duration = Duration::from_secs(10);

/// A connection to the target whose requests carry the auth token, if any.
pub type Connection = InterceptedService<Channel, Token>;

/// Adds the `token` metadata etcd reads an auth token from (as etcdctl sends it).
#[derive(Clone, Debug, Default)]
pub struct Token(Option<AsciiMetadataValue>);

impl Interceptor for Token {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// The member of the target cluster the migration talks to (etcd replicates to the others).
pub struct Target {
    url: String,
    channel: Channel,
    token: Token,
    request_timeout: Duration,
}

impl Target {
    /// Connects to the first member of `--to` that answers a `Status` call.
    pub async fn connect(args: &MigrateArgs) -> Result<Self> {
        let tls = UpstreamTls::from_args(&TlsArgs {
            cacert: args.cacert.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
            ..TlsArgs::default()
        })?;
        let options = EndpointOptions {
            dial_timeout: args.dial_timeout,
            keepalive_time: KEEPALIVE_TIME,
            keepalive_timeout: args.request_timeout,
            tls,
        };
        let urls: Vec<&str> = args
            .to
            .iter()
            .map(|url| url.trim())
            .filter(|url| !url.is_empty())
            .collect();
        anyhow::ensure!(
            !urls.is_empty(),
            "--to names no member: give the target's client URLs, e.g. http://host:2379"
        );
        let mut failures = Vec::new();
        for url in urls {
            match Self::connect_one(url, &options, args.request_timeout).await {
                Ok(mut target) => {
                    if let Some(user) = &args.user {
                        target.authenticate(user).await?;
                    }
                    return Ok(target);
                }
                Err(err) => failures.push(format!("{url}: {err:#}")),
            }
        }
        bail!(
            "no member of the target cluster answered:\n  {}",
            failures.join("\n  ")
        )
    }

    async fn connect_one(
        url: &str,
        options: &EndpointOptions,
        request_timeout: Duration,
    ) -> Result<Self> {
        let endpoint = endpoint(url, options)?.timeout(request_timeout);
        let channel = endpoint.connect().await.context("cannot connect")?;
        MaintenanceClient::new(channel.clone())
            .status(StatusRequest {})
            .await
            .context("Status failed")?;
        Ok(Self {
            url: url.to_owned(),
            channel,
            token: Token::default(),
            request_timeout,
        })
    }

    /// Authenticates as `user` (`name:password`); every later request carries the token.
    async fn authenticate(&mut self, user: &str) -> Result<()> {
        let (name, password) = user
            .split_once(':')
            .context("--user expects name:password")?;
        let response = AuthClient::new(self.channel.clone())
            .authenticate(AuthenticateRequest {
                name: name.to_owned(),
                password: password.to_owned(),
            })
            .await
            .with_context(|| format!("cannot authenticate as {name:?} on {}", self.url))?;
        let token = response.into_inner().token;
        let token = AsciiMetadataValue::try_from(token.as_str())
            .context("the target answered an auth token that is not ASCII")?;
        self.token = Token(Some(token));
        Ok(())
    }

    /// The member's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The KV client.
    pub fn kv(&self) -> KvClient<Connection> {
        KvClient::with_interceptor(self.channel.clone(), self.token.clone())
            .max_decoding_message_size(usize::MAX)
    }

    /// The Lease client.
    pub fn lease(&self) -> LeaseClient<Connection> {
        LeaseClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// The deadline of each request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The number of keys in the cluster.
    pub async fn key_count(&self) -> Result<u64> {
        let response = self
            .kv()
            .range(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                count_only: true,
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot count the keys of {}", self.url))?;
        Ok(response.into_inner().count.max(0) as u64)
    }

    /// Fails unless the cluster holds no key, or `force` is set.
    pub async fn check_empty(&self, force: bool) -> Result<()> {
        let count = self.key_count().await?;
        if count > 0 && !force {
            bail!(
                "the target cluster at {} already holds {count} keys: copying into it would \
                 overwrite the keys of the same name and mix the others with the copy, so the \
                 copy could not be verified key for key; migrate into an empty cluster, or \
                 pass --force to copy anyway",
                self.url
            );
        }
        Ok(())
    }

    /// Up to [`PAGE_SIZE`] keys from `start` on (from the first key if `start` is empty),
    /// in key order, at one revision (`revision` 0: the latest, whose number is returned for
    /// the following pages).
    pub async fn page(&self, start: &[u8], revision: i64) -> Result<(Vec<KeyValue>, i64)> {
        let key = if start.is_empty() {
            vec![0]
        } else {
            start.to_vec()
        };
        let response = self
            .kv()
            .range(RangeRequest {
                key,
                range_end: vec![0],
                revision,
                limit: PAGE_SIZE,
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot read the keys of {}", self.url))?
            .into_inner();
        let revision = response.header.map_or(revision, |header| header.revision);
        Ok((response.kvs, revision))
    }
}
