//! The units' update client: on `ota update` it fetches the manifest from its update server
//! (through the slot's impairment point), checks the version against its anti-rollback counter,
//! downloads the image into the inactive slot as it arrives, resuming with a `Range` request after
//! a cut or a stall, verifies it with the same manifest checks as `rigor image` (signature,
//! digest, target, anti-rollback), and reboots into it on trial. The new image's health check
//! (telemetry connects, self-test passes) commits it; a failure, or a crash on every boot, puts
//! the old slot back.
//!
//! Builds listed in [`crate::firmware::COMMITS_BEFORE_HEALTH_CHECK`] carry a real bug: they
//! commit the new slot before it has booted, so an image that fails its health check stays.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header;
use hyper_util::rt::TokioIo;
use rigor_image::{ImageError, Manifest, TrustPolicy};

use crate::boot::{Download, SLOT_NAMES, TRIAL_BOOTS, Trial};
use crate::telemetry::Link;
use crate::unit::{Fault, State, lock};

/// How often the client looks at the unit.
const TICK: Duration = Duration::from_millis(50);
/// How long a transfer may go without a byte before the client gives up on it and resumes.
const STALL_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts at one download before the client waits for the next `ota update`.
const ATTEMPTS: u32 = 8;
/// The pause before a resumed attempt.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// How long a new image has to get its telemetry connected.
const HEALTH_WINDOW: Duration = Duration::from_secs(10);
/// How long a new image must stay up, healthy, before it commits: an image that crashes soon
/// after boot never gets that far.
const HEALTH_SETTLE: Duration = Duration::from_secs(1);
/// How long an image that crashes on boot runs before it does.
const CRASH_AFTER: Duration = Duration::from_millis(300);
/// A progress line every this many bytes.
const PROGRESS_EVERY: u64 = 8 * 1024;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("no answer in {} s", STALL_TIMEOUT.as_secs())]
    Stalled,
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the connection closed at byte {0}")]
    Closed(u64),
    #[error("the power went")]
    PowerCut,
    #[error("the manifest is not one: {0}")]
    Manifest(#[from] serde_json::Error),
}

/// Starts the unit's update client; `policy` is what its boot ROM trusts (from its profile).
pub(crate) fn spawn_client(
    state: Arc<Mutex<State>>,
    policy: TrustPolicy,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut up_since: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(TICK).await;
            let (running, request, server) = {
                let mut s = lock(&state);
                let running = s.running();
                let request = running && std::mem::take(&mut s.ota_request);
                (running, request, s.update_server)
            };
            if !running {
                up_since = None;
                continue;
            }
            let since = *up_since.get_or_insert_with(Instant::now);

            if let Some(after) = health(&state, since.elapsed()) {
                reboot_after_log(&state, after).await;
                up_since = None;
                continue;
            }
            if request {
                match server {
                    Some(addr) => update(&state, addr, &policy).await,
                    None => log(&state, "ota: no update server configured".into()),
                }
            }
        }
    })
}

/// The running image's own checks: a crash, or the health check of a slot on trial. Returns the
/// line to log before a reboot, if one is due.
fn health(state: &Mutex<State>, up_for: Duration) -> Option<String> {
    let mut s = lock(state);
    let fw = s.firmware.clone()?;
    if fw.crashes_on_boot() && up_for >= CRASH_AFTER {
        return Some("panic: hard fault in main, rebooting".into());
    }
    if !s.on_trial() {
        return None;
    }
    let why = if !s.selftest_passes() {
        "self-test failed"
    } else if matches!(s.link, Link::Connected | Link::Degraded) {
        if up_for < HEALTH_SETTLE {
            return None;
        }
        let line = s.commit();
        s.console_log.push(line);
        return None;
    } else if up_for >= HEALTH_WINDOW {
        "telemetry did not connect in 10 s"
    } else {
        return None;
    };
    s.abandon_trial(why);
    Some(format!("ota: health check failed: {why}; rolling back"))
}

/// Whether the power stayed on since the client's work began at power-on `epoch`: what it held
/// in RAM is gone otherwise.
fn alive(s: &State, epoch: u64) -> bool {
    s.supplied() && s.power_ons == epoch
}

fn log(state: &Mutex<State>, line: String) {
    lock(state).console_log.push(line);
}

/// Logs `line`, lets the console print it, and reboots.
async fn reboot_after_log(state: &Mutex<State>, line: String) {
    log(state, line);
    let deadline = Instant::now() + Duration::from_millis(500);
    while !lock(state).console_log.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock(state).reboot();
}

/// One `ota update`: manifest, download with resume, checks, install.
async fn update(state: &Mutex<State>, server: SocketAddr, policy: &TrustPolicy) {
    log(state, "ota: checking for updates".into());
    let manifest = match fetch_all(server, paths::MANIFEST).await {
        Ok(body) => match serde_json::from_slice::<Manifest>(&body) {
            Ok(m) => m,
            Err(e) => return log(state, format!("ota: no update: {}", FetchError::from(e))),
        },
        Err(e) => return log(state, format!("ota: no update: {e}")),
    };
    let mut policy = policy.clone();
    let (running, commits_early, epoch) = {
        let s = lock(state);
        policy.rollback_floor = policy
            .rollback_floor
            .take()
            .max(s.flash.anti_rollback.clone());
        let fw = s.firmware.clone();
        (
            fw.as_ref().map(|h| h.version.clone()),
            fw.is_some_and(|h| h.commits_before_health_check()),
            s.power_ons,
        )
    };
    if running.as_deref() == Some(manifest.version.to_string().as_str()) {
        return log(state, format!("ota: up to date at fw {}", manifest.version));
    }
    // Refused before a byte is downloaded: a downgrade is never worth the bandwidth.
    if let Some(floor) = &policy.rollback_floor
        && manifest.version < *floor
    {
        let e = ImageError::Downgrade {
            image: manifest.image.clone(),
            version: manifest.version.to_string(),
            floor: floor.to_string(),
            generation: policy.generation.clone(),
        };
        return log(state, format!("ota: refused fw {}: {e}", manifest.version));
    }
    let slot = {
        let mut s = lock(state);
        let slot = s.flash.inactive();
        let fresh = s
            .flash
            .download
            .as_ref()
            .is_none_or(|d| d.sha256 != manifest.sha256);
        if fresh {
            s.flash.slots[slot] = Default::default();
            s.flash.download = Some(Download {
                sha256: manifest.sha256.clone(),
                written: 0,
            });
            s.console_log.push(format!(
                "ota: downloading fw {} into slot {} ({} bytes)",
                manifest.version, SLOT_NAMES[slot], manifest.size
            ));
        } else {
            let at = s.flash.download.as_ref().map_or(0, |d| d.written);
            s.console_log.push(format!(
                "ota: resuming fw {} into slot {} at byte {at}",
                manifest.version, SLOT_NAMES[slot]
            ));
        }
        if s.has(Fault::BricksOnPowerCut) {
            // The bug: the boot pointer moves to the new slot before its image is whole.
            s.flash.active = slot;
        }
        slot
    };
    let path = paths::image(&manifest.image);
    let mut attempts = 0;
    loop {
        match download(state, server, &path, slot, epoch).await {
            Ok(()) => break,
            Err(FetchError::PowerCut) => return,
            Err(e) => {
                attempts += 1;
                let at = lock(state).flash.download.as_ref().map_or(0, |d| d.written);
                if attempts >= ATTEMPTS {
                    return log(state, format!("ota: giving up at byte {at}: {e}"));
                }
                log(
                    state,
                    format!("ota: transfer interrupted at byte {at}: {e}; resuming"),
                );
                tokio::time::sleep(RETRY_AFTER).await;
                if !alive(&lock(state), epoch) {
                    return;
                }
            }
        }
    }
    let image = lock(state).flash.slots[slot].bytes.clone();
    if !alive(&lock(state), epoch) {
        return;
    }
    let checked = rigor_image::verify(
        &policy,
        &manifest.image,
        &image,
        Some(&manifest),
        "manifest.json",
    );
    let header = checked
        .map_err(|e| e.to_string())
        .and_then(|_| crate::firmware::parse(&image));
    let line = {
        let mut s = lock(state);
        s.flash.download = None;
        if s.has(Fault::BricksOnPowerCut) {
            s.flash.active = 1 - slot;
        }
        let header = match header {
            Ok(h) => h,
            Err(why) => {
                s.flash.slots[slot] = Default::default();
                s.console_log
                    .push(format!("ota: refused fw {}: {why}", manifest.version));
                return;
            }
        };
        s.flash.slots[slot].header = Some(header);
        if commits_early {
            s.flash.active = slot;
            s.flash.anti_rollback = Some(manifest.version.clone());
            format!(
                "ota: installed fw {} in slot {}, committed; rebooting",
                manifest.version, SLOT_NAMES[slot]
            )
        } else {
            s.flash.trial = Some(Trial {
                slot,
                boots_left: TRIAL_BOOTS,
            });
            format!(
                "ota: installed fw {} in slot {}; rebooting to try it",
                manifest.version, SLOT_NAMES[slot]
            )
        }
    };
    reboot_after_log(state, line).await;
}

/// The paths the client asks its update server for (as `rigor-update-server` serves them).
mod paths {
    pub(super) const MANIFEST: &str = "/firmware/manifest.json";
    pub(super) fn image(name: &str) -> String {
        format!("/firmware/{name}")
    }
}

/// Sends a GET for `path` from byte `from` on a new connection.
async fn get(
    server: SocketAddr,
    path: &str,
    from: u64,
) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
    let stream = tokio::time::timeout(STALL_TIMEOUT, tokio::net::TcpStream::connect(server))
        .await
        .map_err(|_| FetchError::Stalled)?
        .map_err(FetchError::Connect)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection lives as long as the response's body is read.
    tokio::spawn(connection);
    let mut request = Request::get(path).header(header::HOST, "updates");
    if from > 0 {
        request = request.header(header::RANGE, format!("bytes={from}-"));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|_| FetchError::Status(400))?;
    let response = tokio::time::timeout(STALL_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| FetchError::Stalled)??;
    Ok(response)
}

/// A small body (the manifest), whole.
async fn fetch_all(server: SocketAddr, path: &str) -> Result<Bytes, FetchError> {
    let response = get(server, path, 0).await?;
    if response.status() != hyper::StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(STALL_TIMEOUT, body.frame()).await {
            Err(_) => return Err(FetchError::Stalled),
            Ok(None) => return Ok(Bytes::from(out)),
            Ok(Some(frame)) => {
                if let Ok(data) = frame?.into_data() {
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Downloads the rest of the image into `slot`, from where the download stands, writing each
/// chunk as it arrives.
async fn download(
    state: &Mutex<State>,
    server: SocketAddr,
    path: &str,
    slot: usize,
    epoch: u64,
) -> Result<(), FetchError> {
    let from = lock(state).flash.download.as_ref().map_or(0, |d| d.written);
    let response = get(server, path, from).await?;
    let status = response.status().as_u16();
    let expected = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match status {
        206 => {}
        // A server that ignores ranges sends it all again: start the slot over.
        200 => {
            let mut s = lock(state);
            s.flash.slots[slot].bytes.clear();
            if let Some(d) = s.flash.download.as_mut() {
                d.written = 0;
            }
        }
        other => return Err(FetchError::Status(other)),
    }
    let mut body = response.into_body();
    let mut got = 0u64;
    loop {
        let frame = match tokio::time::timeout(STALL_TIMEOUT, body.frame()).await {
            Err(_) => return Err(FetchError::Stalled),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                let at = lock(state).flash.download.as_ref().map_or(0, |d| d.written);
                return Err(if e.is_incomplete_message() {
                    FetchError::Closed(at)
                } else {
                    FetchError::Http(e)
                });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut s = lock(state);
        // A power cut stops the write where it is; what is written stays.
        if !alive(&s, epoch) {
            return Err(FetchError::PowerCut);
        }
        s.flash.slots[slot].bytes.extend_from_slice(&data);
        got += data.len() as u64;
        let Some(d) = s.flash.download.as_mut() else {
            return Err(FetchError::PowerCut);
        };
        let before = d.written;
        d.written += data.len() as u64;
        let now = d.written;
        if now / PROGRESS_EVERY > before / PROGRESS_EVERY {
            s.console_log.push(format!("ota: {now} bytes written"));
        }
    }
    if expected.is_some_and(|n| got < n) {
        let at = lock(state).flash.download.as_ref().map_or(0, |d| d.written);
        return Err(FetchError::Closed(at));
    }
    Ok(())
}

/// What the unit's boot ROM trusts: its profile's release keys and anti-rollback floor. Keys
/// that do not parse are left out (`rigor check` reports them), so the unit trusts less, never
/// more.
pub(crate) fn trust_policy(profile: &rigor_model::profile::Profile) -> TrustPolicy {
    let signing = profile.flash.as_ref().and_then(|f| f.signing.as_ref());
    TrustPolicy {
        family: profile.family.clone().unwrap_or_default(),
        generation: profile.generation.clone().unwrap_or_default(),
        trusted: signing
            .map(|s| {
                s.trusted_keys
                    .iter()
                    .filter_map(|(name, key)| Some((name.clone(), *key.key().ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
        rollback_floor: signing
            .and_then(|s| s.anti_rollback_floor.as_ref())
            .and_then(|v| v.version().ok().cloned()),
        required: signing.is_some(),
    }
}
