//! `rigor station` beyond loopback: it refuses to start without a token, and with one every
//! request must carry it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::StationProcess;

/// The status code of a plain HTTP request to the station on `port`.
fn status(port: u16, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(conn, "{request}\r\nHost: station\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}").unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn beyond_loopback_the_station_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("rigor.db");
    let out = common::rigor()
        .args([
            "station",
            "--rig",
            "virtual-bench",
            "--listen",
            "0.0.0.0:0",
            "--store",
        ])
        .arg(&store)
        .env_remove("RIGOR_STATION_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: listening on 0.0.0.0:0, beyond this machine, needs a token (--token or RIGOR_STATION_TOKEN)\n"
    );

    // With a token (and the rig's one route, the shipped example), every request must carry it.
    let station = StationProcess::start(&[
        "--rig",
        "virtual-bench",
        "--listen",
        "0.0.0.0:0",
        "--token",
        "s3cret-token",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(
        station.url.ends_with("/?token=s3cret-token"),
        "{}",
        station.url
    );
    let port: u16 = station
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(status(port, "GET / HTTP/1.1"), 401);
    assert_eq!(status(port, "GET /?token=wrong-token! HTTP/1.1"), 401);
    assert_eq!(status(port, "POST /api/scan HTTP/1.1"), 401);
    assert_eq!(status(port, "GET /?token=s3cret-token HTTP/1.1"), 200);
    assert_eq!(status(port, "GET /app.js?token=s3cret-token HTTP/1.1"), 200);
    assert_eq!(station.stop(), Some(0));
}
