//! Typed messages over a byte stream: each message is one JSON document in
//! a length-delimited frame (4-byte big-endian length, then the bytes).
//!
//! A channel carries a frame limit and, optionally, an idle deadline for
//! each receive: a listener starts a connection from an unknown peer with
//! [`PRE_AUTH_MAX_FRAME_LEN`] and a short deadline, and widens both once the
//! peer has authenticated.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{self, LengthDelimitedCodec, LengthDelimitedCodecError};

use crate::error::{Error, Result};

/// The largest message, in bytes of JSON, that may be sent or received by
/// an authenticated peer.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// The largest message a peer may send before it has authenticated: Hello
/// and Auth are a few hundred bytes.
pub const PRE_AUTH_MAX_FRAME_LEN: usize = 4 * 1024;

type Inner<T> = codec::Framed<T, LengthDelimitedCodec>;

fn new_codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(max)
        .new_codec()
}

/// A typed, bidirectional message channel over `T` (typically a TLS stream).
#[derive(Debug)]
pub struct Framed<T> {
    inner: Inner<T>,
    idle: Option<Duration>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Framed<T> {
    /// Wraps `io`, with frames up to [`MAX_FRAME_LEN`] and no deadline.
    pub fn new(io: T) -> Self {
        Self::with_limit(io, MAX_FRAME_LEN)
    }

    /// Wraps `io`, with frames up to `max` bytes (at most
    /// [`MAX_FRAME_LEN`]) both ways.
    pub fn with_limit(io: T, max: usize) -> Self {
        Framed {
            inner: codec::Framed::new(io, new_codec(max.min(MAX_FRAME_LEN))),
            idle: None,
        }
    }

    /// Changes the frame limit (at most [`MAX_FRAME_LEN`]).
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.inner
            .codec_mut()
            .set_max_frame_length(max.min(MAX_FRAME_LEN));
    }

    /// The frame limit.
    pub fn max_frame_len(&self) -> usize {
        self.inner.codec().max_frame_length()
    }

    /// How long [`Framed::recv`] waits for the next message before it fails
    /// with [`Error::IdleTimeout`]; `None` waits forever.
    pub fn set_idle_timeout(&mut self, idle: Option<Duration>) {
        self.idle = idle;
    }

    /// Sends `msg` as one frame and flushes it.
    pub async fn send<M: Serialize + ?Sized>(&mut self, msg: &M) -> Result<()> {
        let max = self.max_frame_len();
        send_on(&mut self.inner, msg, max).await
    }

    /// Receives the next message; `Ok(None)` when the peer has closed the
    /// connection cleanly between messages.
    pub async fn recv<M: DeserializeOwned>(&mut self) -> Result<Option<M>> {
        let max = self.max_frame_len();
        within(self.idle, recv_from(&mut self.inner, max)).await
    }

    /// Sends `bytes` as one raw frame (no JSON) and flushes it.
    pub async fn send_raw(&mut self, bytes: Bytes) -> Result<()> {
        let max = self.max_frame_len();
        if bytes.len() > max {
            return Err(Error::FrameTooLarge {
                size: bytes.len(),
                max,
            });
        }
        self.inner.send(bytes).await.map_err(Error::Transport)
    }

    /// Receives the next frame as raw bytes (no JSON); `Ok(None)` when the
    /// peer has closed the connection cleanly.
    pub async fn recv_raw(&mut self) -> Result<Option<BytesMut>> {
        let max = self.max_frame_len();
        let next = async {
            match self.inner.next().await {
                None => Ok(None),
                Some(Ok(frame)) => Ok(Some(frame)),
                Some(Err(e)) => Err(transport_error(e, max)),
            }
        };
        within(self.idle, next).await
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &T {
        self.inner.get_ref()
    }

    /// The underlying stream, mutably. Reading or writing it directly
    /// corrupts the framing.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Unwraps the underlying stream. Data already read into the frame
    /// buffer but not yet returned by [`Framed::recv`] is lost.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Splits the channel into halves that can be used from different tasks.
    pub fn split(self) -> (FrameSender<T>, FrameReceiver<T>) {
        let max = self.max_frame_len();
        let (sink, stream) = self.inner.split();
        (
            FrameSender { inner: sink, max },
            FrameReceiver {
                inner: stream,
                max,
                idle: self.idle,
            },
        )
    }
}

/// The sending half of a [`Framed`] channel.
#[derive(Debug)]
pub struct FrameSender<T> {
    inner: SplitSink<Inner<T>, Bytes>,
    max: usize,
}

impl<T: AsyncRead + AsyncWrite + Unpin> FrameSender<T> {
    /// Sends `msg` as one frame and flushes it.
    pub async fn send<M: Serialize + ?Sized>(&mut self, msg: &M) -> Result<()> {
        send_on(&mut self.inner, msg, self.max).await
    }

    /// Flushes and shuts down the sending direction of the stream.
    pub async fn close(&mut self) -> Result<()> {
        self.inner.close().await.map_err(Error::Transport)
    }

    /// Joins the halves back into one channel; `None` if they come from
    /// different channels.
    pub fn reunite(self, receiver: FrameReceiver<T>) -> Option<Framed<T>> {
        let idle = receiver.idle;
        self.inner
            .reunite(receiver.inner)
            .ok()
            .map(|inner| Framed { inner, idle })
    }
}

/// The receiving half of a [`Framed`] channel.
#[derive(Debug)]
pub struct FrameReceiver<T> {
    inner: SplitStream<Inner<T>>,
    max: usize,
    idle: Option<Duration>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> FrameReceiver<T> {
    /// Receives the next message; `Ok(None)` when the peer has closed the
    /// connection cleanly between messages.
    pub async fn recv<M: DeserializeOwned>(&mut self) -> Result<Option<M>> {
        within(self.idle, recv_from(&mut self.inner, self.max)).await
    }
}

/// Runs a receive under the idle deadline, if there is one.
async fn within<F, M>(idle: Option<Duration>, recv: F) -> Result<Option<M>>
where
    F: std::future::Future<Output = Result<Option<M>>>,
{
    match idle {
        None => recv.await,
        Some(limit) => tokio::time::timeout(limit, recv)
            .await
            .unwrap_or(Err(Error::IdleTimeout {
                secs: limit.as_secs(),
            })),
    }
}

async fn send_on<S, M>(sink: &mut S, msg: &M, max: usize) -> Result<()>
where
    S: Sink<Bytes, Error = io::Error> + Unpin,
    M: Serialize + ?Sized,
{
    let body = serde_json::to_vec(msg).map_err(Error::Encode)?;
    if body.len() > max {
        return Err(Error::FrameTooLarge {
            size: body.len(),
            max,
        });
    }
    sink.send(Bytes::from(body)).await.map_err(Error::Transport)
}

async fn recv_from<S, M>(stream: &mut S, max: usize) -> Result<Option<M>>
where
    S: Stream<Item = io::Result<BytesMut>> + Unpin,
    M: DeserializeOwned,
{
    match stream.next().await {
        None => Ok(None),
        Some(Ok(frame)) => serde_json::from_slice(&frame)
            .map(Some)
            .map_err(Error::Decode),
        Some(Err(e)) => Err(transport_error(e, max)),
    }
}

fn transport_error(e: io::Error, max: usize) -> Error {
    let too_long = e
        .get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>());
    if too_long {
        Error::FrameTooLarge { size: 0, max }
    } else {
        Error::Transport(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tokio::io::AsyncWriteExt;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Hello { name: String },
        Pages(Vec<u64>),
    }

    #[tokio::test]
    async fn messages_roundtrip_and_eof_is_none() {
        let (a, b) = tokio::io::duplex(1024);
        let mut a = Framed::new(a);
        let mut b = Framed::new(b);
        let hello = Msg::Hello {
            name: "hosta".into(),
        };
        a.send(&hello).await.unwrap();
        // Larger than the duplex buffer: exercises partial reads.
        let pages = Msg::Pages((0..10_000).collect());
        let sender = tokio::spawn(async move {
            a.send(&pages).await.unwrap();
            drop(a);
        });
        assert_eq!(b.recv::<Msg>().await.unwrap(), Some(hello));
        assert_eq!(
            b.recv::<Msg>().await.unwrap(),
            Some(Msg::Pages((0..10_000).collect()))
        );
        sender.await.unwrap();
        assert_eq!(b.recv::<Msg>().await.unwrap(), None);
    }

    #[tokio::test]
    async fn halves_work_independently_and_reunite() {
        let (a, b) = tokio::io::duplex(64);
        let (mut tx, mut rx) = Framed::new(a).split();
        let mut b = Framed::new(b);
        tx.send("ping").await.unwrap();
        assert_eq!(b.recv::<String>().await.unwrap().as_deref(), Some("ping"));
        b.send(&42u32).await.unwrap();
        assert_eq!(rx.recv::<u32>().await.unwrap(), Some(42));
        let mut a = tx.reunite(rx).expect("same channel");
        a.send(&true).await.unwrap();
        assert_eq!(b.recv::<bool>().await.unwrap(), Some(true));
    }

    #[tokio::test]
    async fn malformed_message_is_a_decode_error() {
        let (a, b) = tokio::io::duplex(64);
        let mut a = Framed::new(a);
        let mut b = Framed::new(b);
        a.send(&"text").await.unwrap();
        let err = b.recv::<u32>().await.unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err}");
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_both_ways() {
        let (a, mut raw) = tokio::io::duplex(64);
        let mut a = Framed::new(a);
        let big = "x".repeat(MAX_FRAME_LEN);
        let err = a.send(&big).await.unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { .. }), "{err}");

        // A peer announcing a frame beyond the limit.
        raw.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes())
            .await
            .unwrap();
        let err = a.recv::<String>().await.unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_small_limit_refuses_an_announced_large_frame_at_once() {
        let (a, mut raw) = tokio::io::duplex(64);
        let mut a = Framed::with_limit(a, PRE_AUTH_MAX_FRAME_LEN);
        // Only the length is sent: the limit must apply before any body
        // arrives (nothing is buffered for it).
        raw.write_all(&((PRE_AUTH_MAX_FRAME_LEN as u32) + 1).to_be_bytes())
            .await
            .unwrap();
        let err = a.recv::<String>().await.unwrap_err();
        assert!(
            matches!(err, Error::FrameTooLarge { max, .. } if max == PRE_AUTH_MAX_FRAME_LEN),
            "{err}"
        );
        // Widening it afterwards lets large frames through.
        let (b, c) = tokio::io::duplex(1 << 16);
        let mut b = Framed::with_limit(b, PRE_AUTH_MAX_FRAME_LEN);
        let mut c = Framed::new(c);
        b.set_max_frame_len(MAX_FRAME_LEN);
        let big = "y".repeat(64 * 1024);
        let sender = tokio::spawn(async move { c.send(&big).await.unwrap() });
        assert_eq!(b.recv::<String>().await.unwrap().unwrap().len(), 64 * 1024);
        sender.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_peer_times_out() {
        let (a, _silent) = tokio::io::duplex(64);
        let mut a = Framed::new(a);
        a.set_idle_timeout(Some(Duration::from_millis(50)));
        let err = a.recv::<String>().await.unwrap_err();
        assert!(matches!(err, Error::IdleTimeout { .. }), "{err}");
        let (_tx, mut rx) = a.split();
        let err = rx.recv::<String>().await.unwrap_err();
        assert!(matches!(err, Error::IdleTimeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn truncated_frame_is_a_transport_error() {
        let (a, mut raw) = tokio::io::duplex(64);
        let mut a = Framed::new(a);
        raw.write_all(&10u32.to_be_bytes()).await.unwrap();
        raw.write_all(b"abc").await.unwrap();
        drop(raw);
        let err = a.recv::<String>().await.unwrap_err();
        assert!(matches!(err, Error::Transport(_)), "{err}");
    }
}
