//! One resumed stream: the client's requests go to an upstream stream; when that stream is
//! lost, a new one is opened (with backoff, for at most the resume timeout) and a [`Tracker`]
//! replays what brings it to where the lost one was.
//!
//! The session ends when the client goes away (the response receiver is dropped: every
//! upstream stream it holds is dropped with it), when the upstream ends the stream, or with
//! the first error that is not a connection loss, which the client receives as it is.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::connection::{Backoff, gave_up, is_connection_loss};

/// Responses queued for the client at most (the client's reading paces the upstream).
pub const RESPONSE_QUEUE: usize = 64;
/// Requests queued for the upstream at most, beyond those replayed.
const REQUEST_QUEUE: usize = 64;

/// Keeps what a stream's client asked and was answered, so that a new upstream stream can
/// take over.
pub trait Tracker: Send + 'static {
    /// A request of the client.
    type Request: Send + 'static;
    /// A response of the upstream.
    type Response: Send + 'static;

    /// Records a request of the client before it goes upstream.
    fn on_request(&mut self, request: &Self::Request);

    /// The requests that bring a new upstream stream to where the lost one was.
    fn replay(&mut self) -> Vec<Self::Request>;

    /// Records a response of the upstream; `None` when the client must not see it.
    fn on_response(&mut self, response: Self::Response) -> Option<Self::Response>;
}

/// An upstream stream being opened.
pub type Opening<Resp> = Pin<Box<dyn Future<Output = Result<Streaming<Resp>, Status>> + Send>>;

/// Opens an upstream stream that sends the given requests.
pub type Opener<Req, Resp> = Box<dyn Fn(ReceiverStream<Req>) -> Opening<Resp> + Send + Sync>;

/// The responses of a session, as the tonic service returns them.
pub type Responses<Resp> = ReceiverStream<Result<Resp, Status>>;

/// Starts a session on its own task and returns the client's response stream. A lost
/// upstream is sought again for at most `resume_timeout`.
pub fn spawn<T: Tracker>(
    tracker: T,
    open: Opener<T::Request, T::Response>,
    requests: Streaming<T::Request>,
    resume_timeout: Duration,
) -> Responses<T::Response> {
    let (out, responses) = mpsc::channel(RESPONSE_QUEUE);
    tokio::spawn(run(tracker, open, requests, out, resume_timeout));
    ReceiverStream::new(responses)
}

/// Why an upstream stream stopped.
enum Stop {
    /// The session is over (client gone, upstream ended, or final error sent).
    Done,
    /// The connection was lost: try again.
    Lost(Status),
}

/// Runs a session until it is over.
async fn run<T: Tracker>(
    mut tracker: T,
    open: Opener<T::Request, T::Response>,
    mut requests: Streaming<T::Request>,
    out: mpsc::Sender<Result<T::Response, Status>>,
    resume_timeout: Duration,
) {
    let mut client_sending = true;
    let mut backoff = Backoff::default();
    let mut lost_since: Option<Instant> = None;
    loop {
        let stop = attempt(
            &mut tracker,
            &open,
            &mut requests,
            &mut client_sending,
            &out,
            &mut lost_since,
            &mut backoff,
        )
        .await;
        let Stop::Lost(status) = stop else { return };
        let since = *lost_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= resume_timeout {
            let _ = out.send(Err(gave_up(resume_timeout, &status))).await;
            return;
        }
        tracing::debug!(error = %status, "upstream stream lost, opening another one");
        tokio::select! {
            () = out.closed() => return,
            () = tokio::time::sleep(backoff.next_pause()) => {}
        }
    }
}

/// One upstream stream: replays the tracker's requests, then relays in both directions.
async fn attempt<T: Tracker>(
    tracker: &mut T,
    open: &Opener<T::Request, T::Response>,
    requests: &mut Streaming<T::Request>,
    client_sending: &mut bool,
    out: &mpsc::Sender<Result<T::Response, Status>>,
    lost_since: &mut Option<Instant>,
    backoff: &mut Backoff,
) -> Stop {
    let replay = tracker.replay();
    let (upstream_tx, upstream_rx) = mpsc::channel(REQUEST_QUEUE.max(replay.len()));
    for request in replay {
        // Cannot fail: the receiver is held below and the channel has room for all of them.
        let _ = upstream_tx.try_send(request);
    }
    // After the client's last request, the upstream gets the end of the requests too.
    let mut upstream_tx = client_sending.then_some(upstream_tx);
    let mut opening = Some(open(ReceiverStream::new(upstream_rx)));
    let mut upstream: Option<Streaming<T::Response>> = None;
    loop {
        tokio::select! {
            biased;
            () = out.closed() => return Stop::Done,
            opened = async { opening.as_mut().expect("guarded").await }, if opening.is_some() => {
                opening = None;
                match opened {
                    Ok(stream) => {
                        *lost_since = None;
                        backoff.reset();
                        upstream = Some(stream);
                    }
                    Err(status) if is_connection_loss(&status) => return Stop::Lost(status),
                    Err(status) => return finish(out, status).await,
                }
            }
            message = async { upstream.as_mut().expect("guarded").message().await },
                if upstream.is_some() =>
            {
                match message {
                    Ok(Some(response)) => {
                        if let Some(response) = tracker.on_response(response)
                            && out.send(Ok(response)).await.is_err()
                        {
                            return Stop::Done;
                        }
                    }
                    Ok(None) => return Stop::Done,
                    Err(status) if is_connection_loss(&status) => return Stop::Lost(status),
                    Err(status) => return finish(out, status).await,
                }
            }
            request = requests.next(), if *client_sending => match request {
                Some(Ok(request)) => {
                    tracker.on_request(&request);
                    if let Some(sender) = &upstream_tx {
                        tokio::select! {
                            () = out.closed() => return Stop::Done,
                            // A closed upstream shows as the upstream stream's error.
                            _ = sender.send(request) => {}
                        }
                    }
                }
                // The client's requests ended (or broke): so do the upstream's.
                Some(Err(_)) | None => {
                    *client_sending = false;
                    upstream_tx = None;
                }
            },
        }
    }
}

/// Sends the final error to the client.
async fn finish<Resp>(out: &mpsc::Sender<Result<Resp, Status>>, status: Status) -> Stop {
    let _ = out.send(Err(status)).await;
    Stop::Done
}
