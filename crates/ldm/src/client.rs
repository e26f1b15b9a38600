//! Talking to the local ldmd over its Unix socket.

use ldm_api::{ApiError, ErrorKind, Event, Reply, Request, Response};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// A connection to ldmd.
#[derive(Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for the daemon whose root is `root`.
    pub fn new(root: &Path) -> Self {
        Client {
            socket: root.join(ldm_api::SOCKET_NAME),
        }
    }

    async fn connect(&self) -> Result<UnixStream, ApiError> {
        UnixStream::connect(&self.socket).await.map_err(|e| {
            let root = self.socket.parent().map(|p| p.display().to_string()).unwrap_or_default();
            let message = if e.kind() == std::io::ErrorKind::PermissionDenied {
                // ldmd's root is 0700 (0750 when a group `ldm` exists).
                format!(
                    "you may not use ldmd's socket {} ({e}): ldm accounts other than root need membership of the group `ldm` on this host (ask an administrator: `groupadd ldm`, `usermod -aG ldm USER`, then restart ldmd on a new root or `chgrp ldm {root}; chmod 750 {root}`)",
                    self.socket.display()
                )
            } else {
                format!(
                    "cannot reach ldmd at {} ({e}): is ldmd running? Start it with `ldmd --root {root}`, or point ldm at it with --root or LDM_ROOT",
                    self.socket.display()
                )
            };
            ApiError::new(ErrorKind::Internal, message)
        })
    }

    /// Sends a request and waits for the final answer.
    pub async fn call(&self, req: &Request) -> Result<Reply, ApiError> {
        self.call_with_events(req, |_| {}).await
    }

    /// Sends a request, handing each intermediate event to `on_event`.
    pub async fn call_with_events(
        &self,
        req: &Request,
        mut on_event: impl FnMut(Event),
    ) -> Result<Reply, ApiError> {
        let stream = self.connect().await?;
        let (rd, mut wr) = stream.into_split();
        let mut line = ldm_api::wire::encode_request(req)?;
        line.push('\n');
        wr.write_all(line.as_bytes())
            .await
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot talk to ldmd: {e}")))?;
        let mut rd = BufReader::new(rd);
        loop {
            let mut buf = String::new();
            let n = rd
                .read_line(&mut buf)
                .await
                .map_err(|e| ApiError::new(ErrorKind::Internal, format!("lost ldmd: {e}")))?;
            if n == 0 {
                return Err(ApiError::new(
                    ErrorKind::Internal,
                    "ldmd closed the connection before answering: see its log",
                ));
            }
            let resp: Response = serde_json::from_str(&buf).map_err(|e| {
                ApiError::new(
                    ErrorKind::Internal,
                    format!("ldmd answered something ldm does not understand ({e}): are they the same version?"),
                )
            })?;
            match resp {
                Response::Event(ev) => on_event(ev),
                Response::Ok(r) => return Ok(*r),
                Response::Err(e) => return Err(e),
            }
        }
    }
}
