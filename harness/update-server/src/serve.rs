//! Answering requests: the manifest, the image with ranges, and the misbehaviours on offer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;

use crate::{MANIFEST_PATH, RequestRecord, Shared, image_path, lock};

/// The size of the body's chunks: small enough that a cut or a stall lands near its byte.
const CHUNK: usize = 1024;
/// How long a cut transfer waits before closing, so what it sent leaves the server's buffers
/// first (a cut cable loses nothing already on the wire).
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

pub(crate) fn router(shared: Arc<Mutex<Shared>>) -> axum::Router {
    axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let shared = shared.clone();
        async move { answer(&shared, &uri, &headers) }
    })
}

/// A `Range: bytes=START-` or `bytes=START-END` header; other forms (suffixes, several ranges)
/// are answered with the whole image, as HTTP allows. Written by hand: one line of parsing is
/// all a device's resume needs.
fn range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let end = end.trim();
    let end = if end.is_empty() {
        None
    } else {
        Some(end.parse().ok()?)
    };
    Some((start, end))
}

fn status(code: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

fn answer(shared: &Arc<Mutex<Shared>>, uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let range = range(headers);
    let mut s = lock(shared);
    let record = RequestRecord {
        at: s.started.elapsed(),
        path: path.clone(),
        range,
        status: 404,
        offset: 0,
        bytes_sent: 0,
        cut: false,
        image: false,
    };
    let index = s.log.len();
    s.log.push(record);
    let Some(offer) = s.offer.as_mut() else {
        return status(StatusCode::NOT_FOUND);
    };
    if path == MANIFEST_PATH {
        let body = offer.manifest_json.clone();
        let record = &mut s.log[index];
        record.status = 200;
        record.bytes_sent = body.len() as u64;
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return r;
    }
    if path != image_path(&offer.manifest.image) {
        return status(StatusCode::NOT_FOUND);
    }
    let image = offer.served_image();
    let cut_after = match offer.behaviour.cut_after {
        Some(n) if offer.behaviour.cuts > 0 => {
            offer.behaviour.cuts -= 1;
            Some(n)
        }
        _ => None,
    };
    let stall = offer.behaviour.stall.take();
    let total = image.len() as u64;
    let (start, end) = match range {
        Some((start, end)) => (start, end.map_or(total, |e| e.saturating_add(1)).min(total)),
        None => (0, total),
    };
    let record = &mut s.log[index];
    record.image = true;
    record.offset = start;
    if start >= end {
        record.status = 416;
        let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return r;
    }
    record.status = if range.is_some() { 206 } else { 200 };
    drop(s);
    let body = image.slice(
        usize::try_from(start).unwrap_or(usize::MAX)..usize::try_from(end).unwrap_or(usize::MAX),
    );
    let mut r = Response::new(Body::from_stream(transfer(
        shared.clone(),
        index,
        body,
        cut_after,
        stall,
    )));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // The length is known, so the client knows when a transfer was cut short.
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if range.is_some() {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    r
}

/// The body of one image transfer, in chunks, each counted in the log as it is handed to the
/// connection; cut or stalled where the offer says.
fn transfer(
    shared: Arc<Mutex<Shared>>,
    index: usize,
    body: Bytes,
    cut_after: Option<u64>,
    stall: Option<(u64, Duration)>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct At {
        shared: Arc<Mutex<Shared>>,
        index: usize,
        body: Bytes,
        sent: u64,
        cut_after: Option<u64>,
        stall: Option<(u64, Duration)>,
        done: bool,
    }
    let at = At {
        shared,
        index,
        body,
        sent: 0,
        cut_after,
        stall,
        done: false,
    };
    futures_util::stream::unfold(at, |mut at| async move {
        if at.done || at.body.is_empty() {
            return None;
        }
        if let Some((after, pause)) = at.stall
            && at.sent >= after
        {
            at.stall = None;
            tokio::time::sleep(pause).await;
        }
        if let Some(limit) = at.cut_after
            && at.sent >= limit
        {
            tokio::time::sleep(FLUSH_BEFORE_CUT).await;
            lock(&at.shared).log[at.index].cut = true;
            at.done = true;
            let cut = std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the update server cut the transfer, as the scenario asked",
            );
            return Some((Err(cut), at));
        }
        // Up to the next point where something happens, and never more than a chunk.
        let mut n = CHUNK.min(at.body.len());
        for mark in [at.cut_after, at.stall.map(|(after, _)| after)]
            .into_iter()
            .flatten()
        {
            if mark > at.sent {
                n = n.min(usize::try_from(mark - at.sent).unwrap_or(usize::MAX));
            }
        }
        let chunk = at.body.split_to(n);
        at.sent += n as u64;
        lock(&at.shared).log[at.index].bytes_sent = at.sent;
        Some((Ok(chunk), at))
    })
}
