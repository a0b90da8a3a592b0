//! rigor's toxiproxy-compatible API driven by toxiproxy-python (from PyPI, pinned in
//! `harness/drivers/tests/requirements-peers.txt`), each toxic measured by the client.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const INSTALL: &str = "pip install -r harness/drivers/tests/requirements-peers.txt";

async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_python_drives_the_api_and_every_toxic_shows() {
    let echo = echo_server().await;
    let api = rigor_netfault::toxiproxy::serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let python = std::env::var("RIGOR_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/toxiproxy_client.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(api.local_addr().port().to_string())
        .arg(echo.to_string())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run `{python}` ({e}); `{INSTALL}` into it"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the client failed (if toxiproxy is missing: `{INSTALL}`, or set RIGOR_PYTHON)\n\
         {stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    for check in [
        "latency",
        "bandwidth",
        "limit_data",
        "timeout",
        "reset_peer",
        "slow_close",
        "deleted",
    ] {
        assert!(stdout.contains(&format!("ok {check}")), "{check}: {stdout}");
    }
}
