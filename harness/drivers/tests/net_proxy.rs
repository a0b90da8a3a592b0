//! The impairment proxy between a client and an echo server on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::time::Duration;

use rigor_drivers::net_proxy::ImpairmentProxy;
use rigor_hal::{Impairment, NetImpairment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn latency_delays_both_directions_and_clear_removes_it() {
    let upstream = echo_server().await;
    let proxy = ImpairmentProxy::start("127.0.0.1:0".parse().unwrap(), upstream.to_string())
        .await
        .unwrap();
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert_eq!(round_trip(&mut client, b"hello").await, b"hello");
    proxy
        .apply(&Impairment {
            latency: Some(Duration::from_millis(150)),
            ..Impairment::default()
        })
        .await
        .unwrap();
    let start = Instant::now();
    assert_eq!(round_trip(&mut client, b"slow").await, b"slow");
    // 150 ms each way: the round trip cannot take less than 300 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    proxy.clear().await.unwrap();
    assert_eq!(round_trip(&mut client, b"fast").await, b"fast");
}

#[tokio::test]
async fn a_partition_holds_traffic_until_it_is_lifted() {
    let upstream = echo_server().await;
    let proxy = ImpairmentProxy::start("127.0.0.1:0".parse().unwrap(), upstream.to_string())
        .await
        .unwrap();
    let mut client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    assert_eq!(round_trip(&mut client, b"up").await, b"up");
    proxy
        .apply(&Impairment {
            partition: true,
            ..Impairment::default()
        })
        .await
        .unwrap();
    client.write_all(b"cut").await.unwrap();
    let mut got = [0u8; 3];
    // Nothing comes back while the link is cut.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), client.read_exact(&mut got))
            .await
            .is_err()
    );
    proxy.clear().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"cut");
}

/// Bytes that say where they belong: each 8-byte word is its own offset.
fn stamped(from: u64, words: usize) -> Vec<u8> {
    (from..from + words as u64)
        .flat_map(|w| (w * 8).to_le_bytes())
        .collect()
}

/// Regression test for the direct path (issue 14, throughput): impairments applied and cleared
/// while bytes flow both ways move each direction between the direct path and the delivery
/// queue, and every byte still arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impairments_switched_mid_stream_keep_every_byte_in_order() {
    const TOTAL: usize = 8 << 20;
    const WORDS: usize = 4096;
    let upstream = echo_server().await;
    let proxy = ImpairmentProxy::start("127.0.0.1:0".parse().unwrap(), upstream.to_string())
        .await
        .unwrap();
    let client = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut r, mut w) = client.into_split();
    let writer = tokio::spawn(async move {
        for at in (0..TOTAL / 8).step_by(WORDS) {
            w.write_all(&stamped(at as u64, WORDS)).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    let on = [
        Impairment {
            latency: Some(Duration::from_millis(2)),
            jitter: Some(Duration::from_millis(2)),
            ..Impairment::default()
        },
        Impairment {
            bandwidth_kbps: Some(1_000_000),
            ..Impairment::default()
        },
        Impairment {
            partition: true,
            ..Impairment::default()
        },
    ];
    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 * 1024];
    let mut switches = 0;
    let mut last = Instant::now();
    while got.len() < TOTAL {
        // A partition holds everything: lift it when nothing more comes.
        let read = tokio::time::timeout(Duration::from_millis(50), r.read(&mut buf)).await;
        let Ok(n) = read else {
            if switches % 2 == 1 {
                switches += 1;
                proxy.clear().await.unwrap();
            }
            assert!(
                last.elapsed() < Duration::from_secs(10),
                "stalled at {}",
                got.len()
            );
            continue;
        };
        last = Instant::now();
        let n = n.unwrap();
        assert!(n > 0, "stream ended after {} of {TOTAL} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        // Each switch waits for more bytes to have come back, so every one falls mid-stream.
        if got.len() >= (switches + 1) * TOTAL / 24 {
            switches += 1;
            if switches % 2 == 1 {
                proxy.apply(&on[switches / 2 % on.len()]).await.unwrap();
            } else {
                proxy.clear().await.unwrap();
            }
        }
    }
    writer.await.unwrap();
    assert_eq!(r.read(&mut buf).await.unwrap(), 0, "end of stream");
    let want = stamped(0, TOTAL / 8);
    let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(first_wrong, None, "bytes lost or reordered");
    assert!(switches >= 20, "{switches} switches");
}
