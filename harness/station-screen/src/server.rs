//! The HTTP side: the page and its assets (built into the binary), the view pushed as
//! server-sent events, and the few actions a person takes (scan, answer, abort, technician's
//! maintenance, repair and abort-all). Every request carries the token when one is set.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use rigor_runner::devices::Answer;
use rigor_store::{StationAction, StationActionKind, StationRole, Timestamp};
use serde::Deserialize;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::WatchStream;

use crate::app::App;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

/// The server's state: the station, and the token requests must carry, if any.
#[derive(Clone)]
pub struct Server {
    /// The station.
    pub app: Arc<App>,
    /// The token.
    pub token: Option<Arc<str>>,
}

/// The routes.
pub fn router(server: Server) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/events", get(events))
        .route("/prompt-image/{slot}/{asked}", get(prompt_image))
        .route("/api/badge", post(badge))
        .route("/api/scan", post(scan))
        .route("/api/answer", post(answer))
        .route("/api/abort", post(abort))
        .route("/api/technician/maintenance", post(maintenance))
        .route("/api/technician/repair", post(repair))
        .route("/api/technician/retest-override", post(retest_override))
        .route("/api/technician/abort-all", post(abort_all))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            require_token,
        ))
        .with_state(server)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Refuses requests without the token, when one is set. The page carries it from its own
/// address (`/?token=…`), in a header for actions and in the query for the event stream.
async fn require_token(
    State(server): State<Server>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &server.token {
        let given = headers
            .get("x-rigor-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(query.token);
        // Compared in full whatever the input, so the time taken tells nothing of the token.
        let ok = given.is_some_and(|g| {
            g.len() == token.len()
                && g.bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !ok {
            return refuse(StatusCode::UNAUTHORIZED, "this station needs its token");
        }
    }
    next.run(request).await
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn events(
    State(server): State<Server>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let app = server.app.clone();
    let shared = server.app.shared.clone();
    // A page's stream ends when the station shuts down, so the server can stop.
    let open = move |_: &u64| !app.closing.load(std::sync::atomic::Ordering::SeqCst);
    let stream = WatchStream::new(shared.subscribe())
        .take_while(open)
        .map(move |_| {
            let view = shared.snapshot();
            Ok(SseEvent::default()
                .event("view")
                .json_data(&view)
                .unwrap_or_else(|_| SseEvent::default().comment("unserializable view")))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The picture of the prompt waiting on a slot: only that file, only while it waits, so the
/// station serves nothing else from its disk.
async fn prompt_image(
    State(server): State<Server>,
    Path((slot, asked)): Path<(String, u64)>,
) -> Response {
    let Some(path) = server
        .app
        .slots
        .get(&slot)
        .and_then(|control| control.answers.image(asked))
    else {
        return refuse(StatusCode::NOT_FOUND, "no picture waits on this slot");
    };
    let kind = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .and_then(|e| {
            rigor_model::check_step::PROMPT_IMAGE_TYPES
                .iter()
                .find(|(known, _)| *known == e)
        })
        .map_or("application/octet-stream", |(_, kind)| *kind);
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(e) => refuse(
            StatusCode::NOT_FOUND,
            format!("cannot read the picture {}: {e}", path.display()),
        ),
    }
}

#[derive(Deserialize)]
struct Scan {
    slot: String,
    operator: String,
    serial: String,
}

async fn scan(State(server): State<Server>, Json(scan): Json<Scan>) -> Response {
    let app = server.app;
    let operator = scan.operator.trim().to_owned();
    let serial = scan.serial.trim().to_owned();
    if operator.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "scan your badge first");
    }
    if !app.route.admits_operator(&operator) {
        return not_on_roster(&app, &operator, "operators");
    }
    let Some(control) = app.slots.get(&scan.slot) else {
        return refuse(StatusCode::NOT_FOUND, format!("no slot `{}`", scan.slot));
    };
    let Some(cancel) = control.begin() else {
        return refuse(
            StatusCode::CONFLICT,
            format!("{} is still testing a unit", scan.slot),
        );
    };
    tokio::spawn(crate::cycle::run(
        app.clone(),
        scan.slot,
        operator,
        serial,
        cancel,
    ));
    StatusCode::ACCEPTED.into_response()
}

/// Refuses a badge the route's roster does not name, saying where the roster is kept.
fn not_on_roster(app: &App, badge: &str, roster: &str) -> Response {
    refuse(
        StatusCode::FORBIDDEN,
        format!(
            "badge {badge} is not on this station's {roster} roster (`{roster}:` in route {})",
            app.route.route
        ),
    )
}

#[derive(Deserialize)]
struct BadgeRequest {
    person: String,
    #[serde(default)]
    technician: bool,
}

/// Checks a badge when it is scanned, so the person hears at once, not at the first action.
async fn badge(State(server): State<Server>, Json(b): Json<BadgeRequest>) -> Response {
    let app = &server.app;
    let person = b.person.trim();
    if person.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "give your badge id");
    }
    let (admitted, roster) = if b.technician {
        (app.route.admits_technician(person), "technicians")
    } else {
        (app.route.admits_operator(person), "operators")
    };
    if admitted {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_on_roster(app, person, roster)
    }
}

#[derive(Deserialize)]
struct AnswerRequest {
    slot: String,
    text: Option<String>,
    choice: Option<usize>,
}

async fn answer(State(server): State<Server>, Json(req): Json<AnswerRequest>) -> Response {
    let Some(control) = server.app.slots.get(&req.slot) else {
        return refuse(StatusCode::NOT_FOUND, format!("no slot `{}`", req.slot));
    };
    let answer = match (req.text, req.choice) {
        (Some(text), _) => Answer::Text(text.trim().to_owned()),
        (None, Some(choice)) => Answer::Choice(choice),
        (None, None) => return refuse(StatusCode::BAD_REQUEST, "an answer is text or a choice"),
    };
    if control.answers.answer(answer) {
        StatusCode::ACCEPTED.into_response()
    } else {
        refuse(StatusCode::CONFLICT, "no question is waiting on this slot")
    }
}

#[derive(Deserialize)]
struct Person {
    slot: Option<String>,
    person: String,
    serial: Option<String>,
    note: Option<String>,
}

async fn record(
    app: &App,
    kind: StationActionKind,
    role: StationRole,
    p: &Person,
    fixture: Option<(String, u32)>,
) -> Result<(), Response> {
    let person = p.person.trim();
    if person.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "give your badge id"));
    }
    if role == StationRole::Technician && !app.route.admits_technician(person) {
        return Err(not_on_roster(app, person, "technicians"));
    }
    let action = StationAction {
        at: Timestamp::now(),
        station: app.station.clone(),
        rig: app.rig.clone(),
        slot: p.slot.clone(),
        kind,
        unit: p.serial.clone(),
        fixture,
        person: p.person.trim().to_owned(),
        role,
        note: p.note.clone(),
    };
    app.store(move |s| s.record_station_action(&action))
        .await
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, crate::cycle::chain(&e)))
}

async fn abort(State(server): State<Server>, Json(p): Json<Person>) -> Response {
    let app = &server.app;
    let slot = p.slot.clone().unwrap_or_default();
    let Some(control) = app.slots.get(&slot) else {
        return refuse(StatusCode::NOT_FOUND, format!("no slot `{slot}`"));
    };
    if !control.abort() {
        return refuse(StatusCode::CONFLICT, format!("{slot} is not testing"));
    }
    let unit = app.shared.slot_view(&slot).and_then(|t| t.unit);
    let p = Person { serial: unit, ..p };
    match record(
        app,
        StationActionKind::Abort,
        StationRole::Operator,
        &p,
        None,
    )
    .await
    {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(r) => r,
    }
}

async fn abort_all(State(server): State<Server>, Json(p): Json<Person>) -> Response {
    let app = &server.app;
    for control in app.slots.values() {
        control.abort();
    }
    match record(
        app,
        StationActionKind::AbortAll,
        StationRole::Technician,
        &p,
        None,
    )
    .await
    {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(r) => r,
    }
}

async fn maintenance(State(server): State<Server>, Json(p): Json<Person>) -> Response {
    let app = &server.app;
    let slot = p.slot.clone().unwrap_or_default();
    let Some(wear) = app.shared.slot_view(&slot).and_then(|t| t.wear) else {
        return refuse(
            StatusCode::CONFLICT,
            format!("{slot} has not tested a unit yet: its fixture is not known"),
        );
    };
    let (rig, s, f) = (app.rig.clone(), slot.clone(), wear.fixture.clone());
    let total = match app.store(move |st| st.fixture_wear(&rig, &s, &f)).await {
        Ok(w) => w.total,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, crate::cycle::chain(&e)),
    };
    let fixture = Some((wear.fixture.clone(), total));
    if let Err(r) = record(
        app,
        StationActionKind::Maintenance,
        StationRole::Technician,
        &p,
        fixture,
    )
    .await
    {
        return r;
    }
    match app.wear(&slot, &wear.fixture).await {
        Ok(w) => {
            app.shared.slot(&slot, |tile| {
                tile.wear = Some(w);
                tile.reason = Some(format!(
                    "fixture {} maintained by {}: ready for the next scan",
                    wear.fixture, p.person
                ));
                tile.phase = crate::view::Phase::Ready;
            });
            StatusCode::ACCEPTED.into_response()
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, crate::cycle::chain(&e)),
    }
}

async fn repair(State(server): State<Server>, Json(p): Json<Person>) -> Response {
    for_unit(&server.app, StationActionKind::Repaired, p).await
}

/// One more test for a unit sent to repair, on a technician's word (a failure the technician
/// judges the fixture's, say); the next failure sends it to repair again.
async fn retest_override(State(server): State<Server>, Json(p): Json<Person>) -> Response {
    for_unit(&server.app, StationActionKind::RetestOverride, p).await
}

async fn for_unit(app: &App, kind: StationActionKind, p: Person) -> Response {
    if p.serial.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return refuse(StatusCode::BAD_REQUEST, "scan the unit's label");
    }
    let p = Person {
        serial: p.serial.as_deref().map(|s| s.trim().to_owned()),
        ..p
    };
    match record(app, kind, StationRole::Technician, &p, None).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(r) => r,
    }
}
