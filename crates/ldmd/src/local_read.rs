//! Reading one request from the local socket, within bounds: any local
//! user can connect, account or not, so the request line has a size limit
//! and a deadline, and bytes that are not UTF-8 get an error reply instead
//! of a silent close.

use ldm_api::{ApiError, ErrorKind};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The largest request line, bytes.
pub const MAX_REQUEST: usize = 64 * 1024;
/// How long a client has to send its request line.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Reads one request line; `Ok(None)` when the client closed without one.
pub async fn read_request<R>(rd: &mut R) -> Result<Option<String>, ApiError>
where
    R: AsyncBufRead + Unpin,
{
    let mut buf = Vec::new();
    let mut limited_rd = (&mut *rd).take(MAX_REQUEST as u64 + 1);
    let limited = limited_rd.read_until(b'\n', &mut buf);
    let n = match tokio::time::timeout(REQUEST_DEADLINE, limited).await {
        Err(_) => {
            return Err(bad(format!(
                "no request within {} s: the connection is closed",
                REQUEST_DEADLINE.as_secs()
            )))
        }
        Ok(Err(_)) => return Ok(None),
        Ok(Ok(n)) => n,
    };
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_REQUEST {
        return Err(bad(format!(
            "the request is larger than {} KiB: are ldm and ldmd the same version?",
            MAX_REQUEST / 1024
        )));
    }
    String::from_utf8(buf).map(Some).map_err(|_| {
        bad("the request is not UTF-8 text: are ldm and ldmd the same version?".into())
    })
}

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    async fn read(bytes: &[u8]) -> Result<Option<String>, ApiError> {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        a.write_all(bytes).await.unwrap();
        drop(a);
        read_request(&mut BufReader::new(b)).await
    }

    #[tokio::test]
    async fn a_line_is_read_and_bad_ones_get_reasons() {
        assert_eq!(
            read(b"{\"op\":\"host\"}\n").await.unwrap().unwrap(),
            "{\"op\":\"host\"}\n"
        );
        assert_eq!(read(b"").await.unwrap(), None);
        let err = read(b"\xff\xfe{}\n").await.unwrap_err();
        assert!(err.message.contains("UTF-8"), "{}", err.message);
        let big = vec![b'a'; MAX_REQUEST + 10];
        let err = read(&big).await.unwrap_err();
        assert!(err.message.contains("larger than"), "{}", err.message);
    }
}
