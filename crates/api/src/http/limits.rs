//! Defences against slow and greedy clients: a deadline for the request body, a prompt
//! answer to methods we never serve (a `CONNECT` would otherwise have its tunnel read as
//! a body that never ends), and a cap on open connections per client address.
//! The request head's deadline and keep-alive are actix settings (`server::server_with`).
use super::problem::{ApiError, ErrorKind};
use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{BodySize, BoxBody, EitherBody, MessageBody},
    dev::{Extensions, Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::{ConnectionType, Method, header},
    web::Bytes,
};
use futures_util::Stream;
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    future::Future,
    net::IpAddr,
    pin::Pin,
    rc::Rc,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

/// A request body read under a deadline, shared by its reader and the middleware.
struct Body {
    payload: RefCell<Payload>,
    finished: Cell<bool>,
    timed_out: Cell<bool>,
}

/// The request payload, failing once its deadline has passed before its end.
struct Deadline {
    body: Rc<Body>,
    timeout: Duration,
    /// Started when the body first stalls: a body that arrived with its head (nearly
    /// every API and MCP request) costs no timer.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.body.finished.get() {
            return Poll::Ready(None);
        }
        let next = Pin::new(&mut *self.body.payload.borrow_mut()).poll_next(cx);
        match next {
            Poll::Ready(None) => {
                self.body.finished.set(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.body.timed_out.set(true);
                self.body.finished.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body was not received in time",
                )))))
            }
        }
    }
}

/// A response body that keeps the unread request payload alive until it has been sent.
/// actix drains a dropped chunked payload for as long as the client trickles it in;
/// one still held when the response ends makes it close the connection instead.
struct Holding {
    body: BoxBody,
    _payload: Rc<Body>,
}

impl MessageBody for Holding {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

fn has_body(req: &ServiceRequest) -> bool {
    let h = req.headers();
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Answers CONNECT with 501 before anything reads the request (its body never ends), and
/// puts the body under a deadline: a body that missed it gets 408. Then `input::screen`
/// checks the request's text. A connection whose request body was not read to its end
/// is closed after the response.
pub async fn slow_clients<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: impl AsyncFnOnce(ServiceRequest) -> Result<ServiceResponse<B>, Error>,
) -> Result<ServiceResponse<EitherBody<EitherBody<B>>>, Error> {
    // CONNECT makes the rest of the connection its body (a tunnel): answered at once.
    // Any other method, known or not, is routed: 405 with `Allow` on a known path.
    let known = *req.method() != Method::CONNECT;
    if !known {
        let mut res = ApiError::with_detail(
            ErrorKind::MethodNotImplemented,
            format!("{} is not served here", req.method()),
        )
        .error_response();
        res.head_mut().set_connection_type(ConnectionType::Close);
        return Ok(req.into_response(res).map_into_right_body());
    }
    if !has_body(&req) {
        if let Some(refused) = super::input::screen(&mut req).await {
            return Ok(req.into_response(refused).map_into_right_body());
        }
        return Ok(next(req)
            .await?
            .map_body(|_, b| EitherBody::left(b))
            .map_into_left_body());
    }
    let timeout = req
        .app_data::<actix_web::web::Data<super::Edge>>()
        .map_or(Duration::from_secs(30), |e| e.body_timeout);
    let body = Rc::new(Body {
        payload: RefCell::new(req.take_payload()),
        finished: Cell::new(false),
        timed_out: Cell::new(false),
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(Deadline {
            body: body.clone(),
            timeout,
            sleep: None,
        }),
    });
    let res = match super::input::screen(&mut req).await {
        Some(refused) => req
            .into_response(refused)
            .map_body(|_, b| EitherBody::right(b)),
        None => next(req).await?.map_body(|_, b| EitherBody::left(b)),
    };
    if body.finished.get() && !body.timed_out.get() {
        return Ok(res.map_into_left_body());
    }
    let (req, resp) = res.into_parts();
    let mut resp = if body.timed_out.get() {
        ApiError::new(ErrorKind::RequestTimeout).error_response()
    } else {
        resp.map_into_boxed_body()
    };
    resp.head_mut().set_connection_type(ConnectionType::Close);
    let resp = resp.map_body(|_, b| Holding {
        body: b,
        _payload: body,
    });
    Ok(ServiceResponse::new(req, resp.map_into_boxed_body()).map_into_right_body())
}

/// Counts open connections per client address and refuses those over the cap as they
/// are accepted (actix has no such limit).
pub struct ConnLimiter {
    max: usize,
    exempt: Vec<ipnet::IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
    refusal: Vec<u8>,
}

/// Held in a connection's extensions: gives its place back when the connection ends.
struct Slot {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.limiter.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ConnLimiter {
    pub fn new(max: usize, exempt: Vec<ipnet::IpNet>) -> Arc<Self> {
        let problem = ApiError::with_detail(
            ErrorKind::TooManyAttempts,
            "too many open connections from your address",
        )
        .to_problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut refusal = format!(
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        refusal.extend_from_slice(&body);
        Arc::new(Self {
            max,
            exempt,
            open: Mutex::default(),
            refusal,
        })
    }

    /// Open connections from `ip` (for tests and metrics).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open
            .lock()
            .map_or(0, |m| m.get(&ip).copied().unwrap_or(0))
    }

    /// `HttpServer::on_connect`: takes a place for the connection, or answers 429 and
    /// shuts the socket so that actix drops the connection at once.
    pub fn on_connect(self: &Arc<Self>, io: &dyn std::any::Any, ext: &mut Extensions) {
        if self.max == 0 {
            return;
        }
        let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip().to_canonical();
        if self.exempt.iter().any(|n| n.contains(&ip)) {
            return;
        }
        let admitted = match self.open.lock() {
            Ok(mut open) => {
                let n = open.entry(ip).or_default();
                (*n < self.max).then(|| *n += 1).is_some()
            }
            Err(_) => true,
        };
        if admitted {
            ext.insert(Slot {
                limiter: self.clone(),
                ip,
            });
            return;
        }
        tracing::debug!(%ip, "refused a connection over the per-address cap");
        // A fresh socket's send buffer takes this whole; a client that cannot take it
        // gets the closed connection alone.
        let _ = stream.try_write(&self.refusal);
        let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
    }
}
