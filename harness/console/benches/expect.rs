//! Expect throughput over a pty against raw reads of the same stream (target: expect at ≥ 90 % of
//! raw). A device thread writes a 20 000-line boot log (about 0.9 MiB) into the master side of a
//! pty each iteration; the bench reads it from the slave:
//! - `raw/tty`: blocking reads straight from the tty, the floor;
//! - `raw/port`: `SerialConsole::read` (reader thread, channel, async), what expect stands on;
//! - `expect/marker`: one `expect` for the marker after the log (a boot waited out);
//! - `expect/every-line`: one `expect` with a capture per line, then the marker.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark fails loudly

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use regex::Regex;
use rigor_console::{ConsoleSession, PortSelector, SerialConsole};
use rigor_hal::ConsolePort;
use serialport::{SerialPort, TTYPort};
use tokio::runtime::Runtime;

const LINES: usize = 20_000;

fn boot_log() -> Vec<u8> {
    let mut log = String::new();
    for i in 0..LINES {
        log.push_str(&format!(
            "[{:>8}.{:03}] sensor {}: temp={}.{} C ok\r\n",
            i / 1000,
            i % 1000,
            i % 7,
            20 + i % 9,
            i % 10
        ));
    }
    log.push_str("END-OF-LOG\r\n");
    log.into_bytes()
}

/// A pty whose device side writes the log whenever it is told to.
struct Talker {
    go: mpsc::Sender<()>,
    path: String,
    _slave: TTYPort,
}

fn talker(log: Arc<Vec<u8>>) -> Talker {
    let (mut master, slave) = TTYPort::pair().unwrap();
    master.set_timeout(Duration::from_secs(30)).unwrap();
    let (go, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for () in rx {
            master.write_all(&log).unwrap();
        }
    });
    Talker {
        go,
        path: slave.name().unwrap(),
        _slave: slave,
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let log = Arc::new(boot_log());
    let len = log.len();
    let rt = runtime();
    let mut group = c.benchmark_group("console");
    group.throughput(Throughput::Bytes(len as u64));
    group.sample_size(10);

    let t = talker(log.clone());
    let mut tty = serialport::new(t.path.as_str(), 115_200)
        .timeout(Duration::from_secs(30))
        .open_native()
        .unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    group.bench_function("raw/tty", |b| {
        b.iter(|| {
            t.go.send(()).unwrap();
            let mut got = 0;
            while got < len {
                got += tty.read(&mut buf).unwrap();
            }
        });
    });
    drop(tty);

    let t = talker(log.clone());
    let mut port = SerialConsole::open(PortSelector::path(&t.path), 115_200).unwrap();
    group.bench_function("raw/port", |b| {
        b.iter(|| {
            rt.block_on(async {
                t.go.send(()).unwrap();
                let mut got = 0;
                while got < len {
                    got += port.read(&mut buf).await.unwrap();
                }
            });
        });
    });
    drop(port);

    let marker = Regex::new("END-OF-LOG").unwrap();
    let t = talker(log.clone());
    let port = SerialConsole::open(PortSelector::path(&t.path), 115_200).unwrap();
    let mut console = rt.block_on(async { ConsoleSession::start(Box::new(port)) });
    group.bench_function("expect/marker", |b| {
        b.iter(|| {
            rt.block_on(async {
                t.go.send(()).unwrap();
                console
                    .expect(&marker, Duration::from_secs(30))
                    .await
                    .unwrap();
            });
        });
    });
    rt.block_on(console.close());

    let line = Regex::new(r"temp=(?P<t>\d+\.\d) C").unwrap();
    let t = talker(log);
    let port = SerialConsole::open(PortSelector::path(&t.path), 115_200).unwrap();
    let mut console = rt.block_on(async { ConsoleSession::start(Box::new(port)) });
    group.bench_function("expect/every-line", |b| {
        b.iter(|| {
            rt.block_on(async {
                t.go.send(()).unwrap();
                for _ in 0..LINES {
                    let m = console
                        .expect(&line, Duration::from_secs(30))
                        .await
                        .unwrap();
                    assert!(!m.captures["t"].is_empty());
                }
                console
                    .expect(&marker, Duration::from_secs(30))
                    .await
                    .unwrap();
            });
        });
    });
    rt.block_on(console.close());
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
