#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use std::time::Duration;

use super::*;
use crate::toxiproxy::{Stream, ToxicKind};

/// Bytes that say where they belong: each 8-byte word is its own offset.
fn stamped(from: u64, words: usize) -> Vec<u8> {
    (from..from + words as u64)
        .flat_map(|w| (w * 8).to_le_bytes())
        .collect()
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
    });
    addr
}

fn toxic(name: &str, stream: Stream, kind: ToxicKind) -> Toxic {
    Toxic {
        name: name.to_owned(),
        stream,
        toxicity: 1.0,
        kind,
    }
}

/// Regression test for the direct path (issue 14, throughput): toxics switched on and off while
/// bytes flow both ways move each stream between the direct path and the queue, and every byte
/// still arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_switched_mid_stream_keep_every_byte_in_order() {
    const TOTAL: usize = 8 << 20;
    const WORDS: usize = 4096;
    let proxy = ToxicProxy::start("127.0.0.1:0", &echo_server().await.to_string())
        .await
        .unwrap();
    let client = TcpStream::connect(proxy.listen()).await.unwrap();
    let (mut r, mut w) = client.into_split();
    let writer = tokio::spawn(async move {
        for at in (0..TOTAL / 8).step_by(WORDS) {
            w.write_all(&stamped(at as u64, WORDS)).await.unwrap();
        }
        w.shutdown().await.unwrap();
    });
    // Each toggle waits for more bytes to have come back, so every switch falls mid-stream.
    let on = [
        toxic(
            "lag_up",
            Stream::Upstream,
            ToxicKind::Latency {
                latency: 2,
                jitter: 2,
            },
        ),
        toxic(
            "lag_down",
            Stream::Downstream,
            ToxicKind::Latency {
                latency: 1,
                jitter: 1,
            },
        ),
        toxic(
            "pace_down",
            Stream::Downstream,
            ToxicKind::Bandwidth { rate: 200_000 },
        ),
    ];
    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = vec![0u8; 64 * 1024];
    let mut switches = 0;
    while got.len() < TOTAL {
        let n = tokio::time::timeout(Duration::from_secs(10), r.read(&mut buf))
            .await
            .expect("bytes keep coming")
            .unwrap();
        assert!(n > 0, "stream ended after {} of {TOTAL} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        if got.len() >= (switches + 1) * TOTAL / 24 {
            switches += 1;
            let toxics = if switches % 2 == 1 {
                on[..switches % on.len() + 1].to_vec()
            } else {
                Vec::new()
            };
            proxy.set_toxics(|t| *t = toxics);
        }
    }
    writer.await.unwrap();
    assert_eq!(r.read(&mut buf).await.unwrap(), 0, "end of stream");
    let want = stamped(0, TOTAL / 8);
    let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(first_wrong, None, "bytes lost or reordered");
    assert!(switches >= 20, "{switches} switches");
}
