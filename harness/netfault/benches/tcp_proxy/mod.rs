//! The TCP proxy's section: unimpaired throughput through rigor's proxy (spliced direct path)
//! and through a copying proxy (what the direct path did before: read into a buffer, write it
//! out) against loopback without rigor, runs interleaved so each ratio compares runs taken
//! moments apart on a shared machine; with the process CPU each costs per GB (sender, receiver
//! and proxy) and the proxy's own (its tokio workers), which counts where wall time is noisy.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rigor_netfault::toxiproxy::ToxicProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{bulk, cpu};

const RUNS: usize = 7;
const BYTES: usize = 256 << 20;

/// CPU time of this process's tokio workers (where the proxies run), from the kernel's
/// per-thread schedstat (nanoseconds on CPU).
fn proxy_cpu() -> Duration {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("tokio") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap();
        total += Duration::from_nanos(ns);
    }
    total
}

/// One bulk transfer: Mbit/s, the process CPU it took per GB, and the proxy's share of it.
fn measure(to: impl FnOnce() -> (TcpListener, TcpStream)) -> (f64, f64, f64) {
    let (listener, stream) = to();
    let before = (cpu(), proxy_cpu());
    let mbps = bulk(listener, stream, BYTES);
    let gb = BYTES as f64 / 1e9;
    let process = (cpu() - before.0).as_secs_f64() / gb;
    let proxy = (proxy_cpu() - before.1).as_secs_f64() / gb;
    (mbps, process, proxy)
}

/// The baseline: a proxy that copies through a 256 KiB buffer, as rigor's direct path did.
async fn copying_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let (mut from, _keep) = client.into_split();
        let (_keep2, mut to) = server.into_split();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            to.write_all(&buf[..n]).await.unwrap();
        }
        to.shutdown().await.unwrap();
    });
    addr
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Median and range of `xs`.
fn spread(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

/// Runs the section and prints its figures.
pub fn tcp_proxy(rt: &tokio::runtime::Runtime) {
    println!(
        "\nTCP proxy, unimpaired (TCP, {} MB a run, {RUNS} runs interleaved; load {})",
        BYTES >> 20,
        load()
    );
    let mut direct = Vec::new();
    let mut spliced = Vec::new();
    let mut copied = Vec::new();
    for _ in 0..RUNS {
        direct.push(measure(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            (l, s)
        }));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream = l.local_addr().unwrap().to_string();
        let proxy = rt
            .block_on(ToxicProxy::start("127.0.0.1:0", &upstream))
            .unwrap();
        spliced.push(measure(|| (l, TcpStream::connect(proxy.listen()).unwrap())));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = rt.block_on(copying_proxy(l.local_addr().unwrap()));
        copied.push(measure(|| (l, TcpStream::connect(at).unwrap())));
        // Let the copying proxy's task see its end before the next run.
        std::thread::sleep(Duration::from_millis(10));
    }
    let row = |name: &str, runs: &[(f64, f64, f64)]| {
        let (m, lo, hi) = spread(&mut runs.iter().map(|r| r.0).collect::<Vec<_>>());
        let (c, _, _) = spread(&mut runs.iter().map(|r| r.1).collect::<Vec<_>>());
        let (p, _, _) = spread(&mut runs.iter().map(|r| r.2).collect::<Vec<_>>());
        let mut ratios: Vec<f64> = runs
            .iter()
            .zip(&direct)
            .map(|(r, d)| r.0 / d.0 * 100.0)
            .collect();
        let (rm, rlo, rhi) = spread(&mut ratios);
        println!(
            "  {name:<37} median {m:6.0} Mbit/s ({lo:.0}..{hi:.0}); of loopback in the same \
             run: median {rm:3.0} % ({rlo:.0}..{rhi:.0} %); CPU {c:.2} s/GB, of it the proxy's \
             {p:.2}"
        );
    };
    row("loopback, no rigor (direct):", &direct);
    row("rigor's TCP proxy (spliced):", &spliced);
    row("copying proxy (the old direct path):", &copied);
    println!("  load after: {}", load());
}
