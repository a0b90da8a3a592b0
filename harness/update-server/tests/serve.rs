//! The update server over real HTTP on loopback: ranges, the log, and each misbehaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rigor_update_server::{Behaviour, MANIFEST_PATH, Offer, UpdateServer, image_path};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A signed image of `size` bytes in a temporary folder.
fn signed_image(size: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fw.bin");
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let key = rigor_image::SecretKey::from_bytes(&[7; 32]);
    let version = semver::Version::new(3, 1, 0);
    rigor_image::sign_file(&path, &key, "fridge-ctl", "gen3", &version).unwrap();
    (dir, path, bytes)
}

/// What one GET came to: status, `Content-Range`, the body bytes that arrived.
struct Got {
    status: u16,
    content_range: Option<String>,
    content_length: Option<usize>,
    body: Vec<u8>,
}

/// A plain HTTP/1.1 GET over a fresh connection, read until the server closes it.
async fn get(addr: SocketAddr, path: &str, range: Option<&str>) -> Got {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: updates\r\n{range}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A cut connection may end in a reset: what arrived before it counts.
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.to_owned())
    };
    Got {
        status: head[9..12].parse().unwrap(),
        content_range: header("content-range"),
        content_length: header("content-length").map(|v| v.parse().unwrap()),
        body: raw[end + 4..].to_vec(),
    }
}

async fn server_offering(path: &std::path::Path, behaviour: Behaviour) -> UpdateServer {
    let server = UpdateServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    server.offer(Offer::from_files(path, behaviour).unwrap());
    server
}

#[tokio::test]
async fn serves_the_manifest_and_the_image_whole_or_from_a_byte_on() {
    let (_dir, path, bytes) = signed_image(10_000);
    let server = server_offering(&path, Behaviour::default()).await;
    let addr = server.local_addr();
    let manifest = get(addr, MANIFEST_PATH, None).await;
    assert_eq!(manifest.status, 200);
    let m: rigor_image::Manifest = serde_json::from_slice(&manifest.body).unwrap();
    assert_eq!((m.image.as_str(), m.size), ("fw.bin", 10_000));

    let whole = get(addr, &image_path("fw.bin"), None).await;
    assert_eq!((whole.status, whole.body.len()), (200, 10_000));
    assert_eq!(whole.body, bytes);
    let tail = get(addr, &image_path("fw.bin"), Some("bytes=4000-")).await;
    assert_eq!(tail.status, 206);
    assert_eq!(tail.content_range.as_deref(), Some("bytes 4000-9999/10000"));
    assert_eq!(tail.body, bytes[4000..]);
    let past = get(addr, &image_path("fw.bin"), Some("bytes=10000-")).await;
    assert_eq!(past.status, 416);
    assert_eq!(get(addr, "/firmware/other.bin", None).await.status, 404);

    let log = server.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[2].range, Some((4000, None)));
    assert_eq!((log[2].offset, log[2].bytes_sent), (4000, 6000));
    let stats = server.stats();
    assert_eq!((stats.image_requests, stats.ranged_requests), (3, 2));
    // The whole image, then its tail again: the tail was downloaded twice.
    assert_eq!(
        (stats.bytes_covered, stats.bytes_redownloaded),
        (10_000, 6000)
    );
}

#[tokio::test]
async fn cuts_the_next_transfers_after_n_bytes_and_a_resume_then_completes_them() {
    let (_dir, path, bytes) = signed_image(10_000);
    let behaviour = Behaviour {
        cut_after: Some(3000),
        cuts: 2,
        ..Behaviour::default()
    };
    let server = server_offering(&path, behaviour).await;
    let addr = server.local_addr();
    let image = image_path("fw.bin");
    let first = get(addr, &image, None).await;
    assert_eq!(first.content_length, Some(10_000));
    assert_eq!(first.body, bytes[..3000]);
    let second = get(addr, &image, Some("bytes=3000-")).await;
    assert_eq!(second.body, bytes[3000..6000]);
    let third = get(addr, &image, Some("bytes=6000-")).await;
    assert_eq!(third.body, bytes[6000..]);
    let stats = server.stats();
    assert_eq!(
        (stats.cuts, stats.bytes_sent, stats.bytes_redownloaded),
        (2, 10_000, 0)
    );
    assert_eq!(
        server.requests().iter().map(|r| r.cut).collect::<Vec<_>>(),
        [true, true, false]
    );
}

#[tokio::test]
async fn serves_corrupted_and_truncated_images_when_told() {
    let (_dir, path, bytes) = signed_image(10_000);
    let server = server_offering(
        &path,
        Behaviour {
            corrupt: true,
            ..Behaviour::default()
        },
    )
    .await;
    let got = get(server.local_addr(), &image_path("fw.bin"), None).await;
    assert_eq!(got.body.len(), bytes.len());
    assert_ne!(got.body, bytes);
    server.set_behaviour(Behaviour {
        truncate: Some(2500),
        ..Behaviour::default()
    });
    let got = get(server.local_addr(), &image_path("fw.bin"), None).await;
    assert_eq!((got.status, got.body.as_slice()), (200, &bytes[..2500]));
}

#[tokio::test]
async fn a_stall_holds_the_transfer_then_lets_it_finish() {
    let (_dir, path, bytes) = signed_image(8_000);
    let behaviour = Behaviour {
        stall: Some((2000, Duration::from_millis(600))),
        ..Behaviour::default()
    };
    let server = server_offering(&path, behaviour).await;
    let started = Instant::now();
    let got = get(server.local_addr(), &image_path("fw.bin"), None).await;
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(got.body, bytes);
    // Only the next transfer stalls.
    let started = Instant::now();
    get(server.local_addr(), &image_path("fw.bin"), None).await;
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test]
async fn offers_nothing_until_told_and_refuses_an_unsigned_image() {
    let server = UpdateServer::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    assert_eq!(
        get(server.local_addr(), MANIFEST_PATH, None).await.status,
        404
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.bin");
    std::fs::write(&path, b"unsigned").unwrap();
    let err = Offer::from_files(&path, Behaviour::default()).unwrap_err();
    assert!(err.to_string().contains("has no manifest"), "{err}");
}
