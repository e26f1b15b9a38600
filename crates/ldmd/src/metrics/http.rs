//! The metrics endpoint: plain HTTP/1.1 on `--metrics ADDR`, `GET /metrics`
//! answered with the text exposition; anything else is 404. It carries no
//! secrets but no authentication either: bind it to loopback or a
//! management network.

use crate::daemon::Daemon;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The content type of the OpenMetrics text format, which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scraper may take to send its request.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves scrapes until the task is aborted.
pub async fn serve(d: Arc<Daemon>, listener: TcpListener) {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving metrics on /metrics");
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("metrics accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let d = d.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(d.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), svc);
            if let Err(e) = conn.await {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

async fn answer(
    d: Arc<Daemon>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let reply = |status: StatusCode, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "ldmd serves its metrics on /metrics\n".into(),
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET\n".into(),
        );
    }
    let text = {
        let t = d.table();
        d.metrics.render(&t)
    };
    reply(StatusCode::OK, CONTENT_TYPE, text)
}
