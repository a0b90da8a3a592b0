//! toxiproxy's HTTP API (version 2), served with axum.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::proxy::ToxicProxy;
use super::toxic::{Toxic, ToxicRequest};
use crate::error::NetfaultError;

/// What the API answers with a status other than success, as toxiproxy's `{"error", "status"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such proxy or toxic.
    #[error("{what} not found")]
    NotFound {
        /// What was asked for.
        what: String,
    },
    /// A proxy or toxic of that name exists.
    #[error("{what} already exists")]
    Exists {
        /// What.
        what: String,
    },
    /// A request toxiproxy would refuse.
    #[error("invalid request: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// Listening failed.
    #[error("could not listen on {listen}")]
    Listen {
        /// The address.
        listen: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Exists { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Listen { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut message = self.to_string();
        let mut source = std::error::Error::source(&self);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        (
            status,
            Json(json!({ "error": message, "status": status.as_u16() })),
        )
            .into_response()
    }
}

type Proxies = Arc<Mutex<BTreeMap<String, ToxicProxy>>>;

#[derive(Debug, Deserialize)]
struct ProxyRequest {
    name: Option<String>,
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

fn proxy_json(name: &str, p: &ToxicProxy) -> Value {
    json!({
        "name": name,
        "listen": p.listen().to_string(),
        "upstream": p.upstream(),
        "enabled": p.enabled(),
        "toxics": p.toxics().iter().map(Toxic::to_json).collect::<Vec<_>>(),
    })
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound {
        what: format!("proxy {name}"),
    }
}

/// The API's routes over a set of proxies.
pub fn router() -> Router {
    let proxies: Proxies = Arc::default();
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route("/proxies/{proxy}", get(show).post(update).delete(destroy))
        .route("/proxies/{proxy}/toxics", get(list_toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).delete(remove_toxic),
        )
        .with_state(proxies)
}

/// A running API server; dropping it stops the server and closes every proxy.
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the API on `addr` (toxiproxy's port is 8474) on the current tokio runtime.
pub async fn serve(addr: SocketAddr) -> Result<Server, NetfaultError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NetfaultError::io(format!("listening on {addr}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NetfaultError::io("reading the API's address", e))?;
    let task = tokio::spawn(async move {
        // Serving ends only with an accept error on a bound listener; nothing to report to.
        let _ = axum::serve(listener, router()).await;
    });
    Ok(Server { addr, task })
}

async fn version() -> &'static str {
    // What clients parse: toxiproxy's API version this server follows.
    concat!("2.12.0 (rigor-netfault ", env!("CARGO_PKG_VERSION"), ")")
}

async fn reset(State(proxies): State<Proxies>) -> Result<StatusCode, ApiError> {
    let mut proxies = proxies.lock().await;
    for p in proxies.values_mut() {
        p.set_toxics(Vec::clear);
        let listen = p.listen().to_string();
        p.enable()
            .await
            .map_err(|source| ApiError::Listen { listen, source })?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list(State(proxies): State<Proxies>) -> Json<Value> {
    let proxies = proxies.lock().await;
    let map: serde_json::Map<String, Value> = proxies
        .iter()
        .map(|(n, p)| (n.clone(), proxy_json(n, p)))
        .collect();
    Json(Value::Object(map))
}

async fn create_one(proxies: &Proxies, req: ProxyRequest) -> Result<Value, ApiError> {
    let invalid = |reason: &str| ApiError::Invalid {
        reason: reason.to_owned(),
    };
    let name = req.name.ok_or_else(|| invalid("a proxy needs a name"))?;
    let upstream = req
        .upstream
        .ok_or_else(|| invalid("a proxy needs an upstream"))?;
    let listen = req.listen.unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let mut proxies = proxies.lock().await;
    if proxies.contains_key(&name) {
        return Err(ApiError::Exists {
            what: format!("proxy {name}"),
        });
    }
    let mut proxy = ToxicProxy::start(&listen, &upstream)
        .await
        .map_err(|source| ApiError::Listen { listen, source })?;
    if req.enabled == Some(false) {
        proxy.disable().await;
    }
    let json = proxy_json(&name, &proxy);
    proxies.insert(name, proxy);
    Ok(json)
}

async fn create(
    State(proxies): State<Proxies>,
    Json(req): Json<ProxyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(create_one(&proxies, req).await?)))
}

async fn populate(
    State(proxies): State<Proxies>,
    Json(reqs): Json<Vec<ProxyRequest>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut made = Vec::new();
    for req in reqs {
        // populate replaces a proxy of the same name.
        if let Some(name) = &req.name {
            proxies.lock().await.remove(name);
        }
        made.push(create_one(&proxies, req).await?);
    }
    Ok((StatusCode::CREATED, Json(json!({ "proxies": made }))))
}

async fn show(
    State(proxies): State<Proxies>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    Ok(Json(proxy_json(&name, p)))
}

async fn update(
    State(proxies): State<Proxies>,
    Path(name): Path<String>,
    Json(req): Json<ProxyRequest>,
) -> Result<Json<Value>, ApiError> {
    let mut proxies = proxies.lock().await;
    let p = proxies.get_mut(&name).ok_or_else(|| not_found(&name))?;
    if req.listen.is_some() || req.upstream.is_some() {
        let listen = req.listen.unwrap_or_else(|| p.listen().to_string());
        let upstream = req.upstream.unwrap_or_else(|| p.upstream().to_owned());
        p.rebind(&listen, &upstream)
            .await
            .map_err(|source| ApiError::Listen { listen, source })?;
    }
    match req.enabled {
        Some(false) => p.disable().await,
        Some(true) => {
            let listen = p.listen().to_string();
            p.enable()
                .await
                .map_err(|source| ApiError::Listen { listen, source })?;
        }
        None => {}
    }
    Ok(Json(proxy_json(&name, p)))
}

async fn destroy(
    State(proxies): State<Proxies>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    proxies
        .lock()
        .await
        .remove(&name)
        .ok_or_else(|| not_found(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_toxics(
    State(proxies): State<Proxies>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    Ok(Json(Value::Array(
        p.toxics().iter().map(Toxic::to_json).collect(),
    )))
}

async fn add_toxic(
    State(proxies): State<Proxies>,
    Path(name): Path<String>,
    Json(req): Json<ToxicRequest>,
) -> Result<Json<Value>, ApiError> {
    let toxic = Toxic::create(req)?;
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    if p.toxics().iter().any(|t| t.name == toxic.name) {
        return Err(ApiError::Exists {
            what: format!("toxic {}", toxic.name),
        });
    }
    let json = toxic.to_json();
    p.set_toxics(|t| t.push(toxic));
    Ok(Json(json))
}

async fn show_toxic(
    State(proxies): State<Proxies>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    let t = p
        .toxics()
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or_else(|| ApiError::NotFound {
            what: format!("toxic {toxic}"),
        })?;
    Ok(Json(t.to_json()))
}

async fn update_toxic(
    State(proxies): State<Proxies>,
    Path((name, toxic)): Path<(String, String)>,
    Json(req): Json<ToxicRequest>,
) -> Result<Json<Value>, ApiError> {
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    let mut toxics = p.toxics();
    let t = toxics
        .iter_mut()
        .find(|t| t.name == toxic)
        .ok_or_else(|| ApiError::NotFound {
            what: format!("toxic {toxic}"),
        })?;
    t.update(req)?;
    let json = t.to_json();
    p.set_toxics(|old| *old = toxics);
    Ok(Json(json))
}

async fn remove_toxic(
    State(proxies): State<Proxies>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let proxies = proxies.lock().await;
    let p = proxies.get(&name).ok_or_else(|| not_found(&name))?;
    if !p.toxics().iter().any(|t| t.name == toxic) {
        return Err(ApiError::NotFound {
            what: format!("toxic {toxic}"),
        });
    }
    p.set_toxics(|t| t.retain(|t| t.name != toxic));
    Ok(StatusCode::NO_CONTENT)
}
