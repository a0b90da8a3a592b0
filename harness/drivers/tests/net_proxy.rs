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
