//! Headless Chromium driven over WebDriver (chromedriver), and `rigor station` serving its
//! screen: both started by the test on free ports and stopped when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

/// A child process killed when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Chromium, headless, through a chromedriver of its own.
pub struct Browser {
    pub client: Client,
    _driver: Guard,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, window `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Guard(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (Debian's chromium-driver) is installed"),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    // As root, Chromium refuses to start without this.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Polls `script` until it returns something other than `null` or `false`, for up to
    /// `timeout`; on timeout, saves a screenshot as `target/<what>.png` and fails.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.js(script).await;
            if !matches!(
                value,
                serde_json::Value::Null | serde_json::Value::Bool(false)
            ) {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("timeout-{what}")).await;
                let tiles = self
                    .js("return [...document.querySelectorAll('.tile')].map(t => t.innerText).join('\\n----\\n')")
                    .await;
                panic!(
                    "timed out waiting for {what}; the tiles:\n{}",
                    tiles.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot of the page as `target/station-screen/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/station-screen");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }

    /// Types `keys` into whatever has the focus, as a barcode scanner or keyboard would.
    pub async fn type_keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .unwrap()
            .send_keys(keys)
            .await
            .unwrap();
    }
}

/// `rigor station` serving its screen on a free port.
pub struct StationProcess {
    pub url: String,
    child: Guard,
    /// Kept open, so the station's later lines do not meet a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl StationProcess {
    /// Starts `rigor station` with `args` (and `--listen 127.0.0.1:0` unless they say where)
    /// and waits for its address.
    pub fn start(args: &[&str]) -> StationProcess {
        let listen: &[&str] = if args.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = crate::common::rigor()
            .arg("station")
            .args(args)
            .args(listen)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in `{line}`"))
            .to_owned();
        StationProcess {
            url,
            child: Guard(child),
            _stdout: stdout,
        }
    }

    /// Stops the station as a service manager would (SIGTERM) and returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        let pid = self.child.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.0.wait().unwrap().code()
    }
}
