//! Shutting the gateway down cleanly: a [`Shutdown`] tells every open stream and WebSocket
//! session (through the [`ShutdownListener`] in the router's state) to end at once with a final
//! `Unavailable` error, and tells when all of them have ended.

use tokio::sync::watch;
use tonic::Status;

/// The message of the final error every open stream gets on shutdown.
pub const SHUTTING_DOWN: &str = "the gateway is shutting down";

/// The controlling side of a shutdown.
#[derive(Debug)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

impl Shutdown {
    /// A shutdown not yet begun.
    pub fn new() -> Self {
        Self {
            sender: watch::Sender::new(false),
        }
    }

    /// A listener for the router's state (see [`crate::GatewayRouter::shutdown`]).
    pub fn listener(&self) -> ShutdownListener {
        ShutdownListener {
            receiver: self.sender.subscribe(),
        }
    }

    /// Tells every listener that the gateway is shutting down.
    pub fn begin(&self) {
        self.sender.send_replace(true);
    }

    /// Resolves once no listener is left: every router, stream and WebSocket session holding
    /// one has been dropped.
    pub async fn listeners_gone(&self) {
        self.sender.closed().await;
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// The side of a shutdown that open streams and sessions watch; holding one keeps
/// [`Shutdown::listeners_gone`] waiting.
#[derive(Debug, Clone)]
pub struct ShutdownListener {
    receiver: watch::Receiver<bool>,
}

impl ShutdownListener {
    /// A listener whose shutdown never begins.
    pub fn never() -> Self {
        Shutdown::new().listener()
    }

    /// Resolves when the shutdown begins; never if its [`Shutdown`] is dropped unbegun.
    pub async fn begun(mut self) {
        if self.receiver.wait_for(|begun| *begun).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether the shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// The status every open stream ends with on shutdown: `Unavailable` (HTTP 503).
pub fn shutting_down() -> Status {
    Status::unavailable(SHUTTING_DOWN)
}
