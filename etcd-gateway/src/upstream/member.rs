//! One upstream member: its own channel (one HTTP/2 connection, opened lazily and reopened
//! after failures) and whether it is in rotation.

use anyhow::Result;
use tokio::sync::watch;
use tonic::transport::Channel;

use super::endpoint::{EndpointOptions, endpoint};

/// One member of the upstream cluster.
#[derive(Debug)]
pub struct Member {
    url: String,
    channel: Channel,
    healthy: watch::Sender<bool>,
}

/// A member's URL and whether it is in rotation, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHealth {
    /// The URL as given in `--endpoints`.
    pub url: String,
    /// Whether requests are sent to it: it answered its last probe and its connection has not
    /// failed since.
    pub healthy: bool,
}

impl Member {
    /// The member at `url`, in rotation until a call or a probe says otherwise. Nothing is
    /// connected yet.
    pub fn new(url: &str, options: &EndpointOptions) -> Result<Self> {
        let channel = options.tls.connect_lazy(url, endpoint(url, options)?);
        let url = url.trim().to_owned();
        crate::metrics::record_member_health(&url, true);
        Ok(Self {
            url,
            channel,
            healthy: watch::Sender::new(true),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A handle on the member's channel.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Whether the member is in rotation.
    pub fn is_healthy(&self) -> bool {
        *self.healthy.borrow()
    }

    /// Its URL and health.
    pub fn health(&self) -> MemberHealth {
        MemberHealth {
            url: self.url.clone(),
            healthy: self.is_healthy(),
        }
    }

    /// Takes the member out of rotation (`why` is logged when it was in).
    pub fn mark_unhealthy(&self, why: &str) {
        crate::metrics::record_member_health(&self.url, false);
        if self.healthy.send_replace(false) {
            tracing::warn!(member = %self.url, reason = why, "upstream member out of rotation");
        }
    }

    /// Puts the member back into rotation.
    pub fn mark_healthy(&self) {
        crate::metrics::record_member_health(&self.url, true);
        if !self.healthy.send_replace(true) {
            tracing::info!(member = %self.url, "upstream member back in rotation");
        }
    }

    /// Resolves when the member is taken out of rotation after this call (it never resolves
    /// for a member that stays in).
    pub fn taken_out(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut health = self.healthy.subscribe();
        async move {
            while health.changed().await.is_ok() {
                if !*health.borrow_and_update() {
                    return;
                }
            }
            std::future::pending().await
        }
    }
}
