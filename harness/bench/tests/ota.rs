//! The units' update client on the virtual bench, through the real interfaces: the console on
//! its pseudo-terminal, the supply over Modbus TCP, downloads over HTTP from rigor's update
//! server through the slot's impairment proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::time::Duration;

use rigor_bench::firmware::{OtaBuilds, write_build, write_ota_builds};
use rigor_bench::{Bench, Fault, UnitSpec, UpdateRoute};
use rigor_console::{ConsoleSession, LineEnding, PortSelector, SerialConsole};
use rigor_drivers::modbus::{Endpoint, ModbusInstrument};
use rigor_hal::{Flasher, Instrument, NetImpairment, Reading};
use rigor_update_server::{Behaviour, Offer, UpdateServer};

/// A gen3 unit in slot1 of the virtual bench, flashed with `version`, its update client pointed
/// at a fresh update server.
struct Unit {
    console: ConsoleSession,
    psu: ModbusInstrument,
    server: UpdateServer,
    builds: OtaBuilds,
    bench: Bench,
    _route: UpdateRoute,
    _dir: tempfile::TempDir,
}

async fn unit(version: &str, faults: Vec<Fault>) -> Unit {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (catalog, diags) =
        rigor_model::load_paths(&["device-profiles", "rigs", "fixtures"].map(|d| root.join(d)));
    assert!(diags.is_empty(), "{diags:?}");
    let rig = &catalog.rigs["virtual-bench"].value;
    let models: BTreeMap<_, _> = catalog
        .instruments
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let spec = UnitSpec {
        slot: "slot1".into(),
        serial: "FC3-000901".into(),
        profile: catalog.profiles["fridge-ctl-gen3"].value.clone(),
        fixture: catalog.fixtures["fx-fridge-gen3"].value.clone(),
        faults,
        installed: None,
    };
    let bench = Bench::start(rig, &models, vec![spec], 7).await.unwrap();
    let slot = bench.slot("slot1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = write_build(dir.path(), "fridge-ctl", "gen3", version).unwrap();
    let builds = write_ota_builds(dir.path(), "fridge-ctl", "gen3", version).unwrap();
    let mut probe = slot.flasher.clone();
    let bytes = std::fs::read(&image).unwrap();
    probe
        .flash(
            &rigor_hal::FirmwareImage {
                name: "fw".into(),
                bytes: bytes.into(),
                format: rigor_hal::ImageFormat::Elf,
                base_address: None,
            },
            true,
        )
        .await
        .unwrap();
    let server = UpdateServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let route = slot
        .route_updates(server.local_addr())
        .await
        .unwrap()
        .unwrap();
    let rigor_bench::InstrumentEndpoint::Tcp(address) = slot.instruments["psu-1"].clone() else {
        panic!("the bench's supply is on Modbus TCP");
    };
    let psu = ModbusInstrument::new(
        "psu-1",
        models["riden-rd6006"].clone(),
        Endpoint::Tcp { address, unit: 1 },
    );
    let port = SerialConsole::open(PortSelector::path(&slot.console), 115_200).unwrap();
    let console = ConsoleSession::start(Box::new(port));
    let mut unit = Unit {
        console,
        psu,
        server,
        builds,
        bench,
        _route: route,
        _dir: dir,
    };
    unit.power(true).await;
    let banner = format!(r"\[boot\] fridge-ctl/gen3 v{}", regex::escape(version));
    unit.expect(&banner, 5).await;
    unit.expect("telemetry: connected", 10).await;
    unit
}

impl Unit {
    async fn power(&self, on: bool) {
        if on {
            self.psu
                .write("voltage_set", Reading::Number(12.0))
                .await
                .unwrap();
            self.psu
                .write("current_set", Reading::Number(1.0))
                .await
                .unwrap();
        }
        self.psu.write("output", Reading::Bool(on)).await.unwrap();
    }

    /// Cuts the power for half a second, as `power: cycle` does: the length of the cut is the
    /// stimulus, not a wait for something to happen.
    async fn power_cut(&self) {
        self.power(false).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.power(true).await;
    }

    /// Waits up to `secs` for `pattern`; returns the match's text.
    async fn expect(&mut self, pattern: &str, secs: u64) -> String {
        let re = regex::Regex::new(pattern).unwrap();
        match self.console.expect(&re, Duration::from_secs(secs)).await {
            Ok(m) => m.text,
            Err(e) => panic!("no `{pattern}` within {secs} s: {e}\n{}", self.transcript()),
        }
    }

    fn transcript(&self) -> String {
        self.console
            .transcript()
            .entries()
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
            .collect()
    }

    async fn send(&self, line: &str) {
        self.console.send(line, LineEnding::Cr, None).await.unwrap();
    }

    fn offer(&self, image: &std::path::Path, behaviour: Behaviour) {
        self.server
            .offer(Offer::from_files(image, behaviour).unwrap());
    }

    /// `ota status`'s answer.
    async fn status(&mut self) -> String {
        self.send("ota status").await;
        self.expect(r"ota: running slot [AB] fw \S+ \w+", 5).await
    }

    fn slow_link(&self, imp: rigor_hal::Impairment) -> std::sync::Arc<dyn NetImpairment> {
        let link = self.bench.slot("slot1").unwrap().uplink.clone().unwrap();
        futures_lite_block(link.apply(&imp)).unwrap();
        link
    }
}

/// Applying to the proxy completes at once (it only publishes the new impairment).
fn futures_lite_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_update_installs_on_trial_passes_its_health_check_and_commits() {
    let mut u = unit("3.0.2", Vec::new()).await;
    u.offer(&u.builds.next.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(r"ota: downloading fw 3\.1\.0 into slot B", 5)
        .await;
    u.expect(
        r"ota: installed fw 3\.1\.0 in slot B; rebooting to try it",
        10,
    )
    .await;
    u.expect(r"\[boot\] fridge-ctl/gen3 v3\.1\.0", 5).await;
    u.expect(r"ota: committed slot B fw 3\.1\.0", 15).await;
    assert_eq!(u.status().await, "ota: running slot B fw 3.1.0 committed");
    let stats = u.server.stats();
    assert_eq!((stats.image_requests, stats.bytes_redownloaded), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_transfers_over_a_slow_lossy_link_resume_without_re_downloading() {
    let mut u = unit("3.0.2", Vec::new()).await;
    u.slow_link(rigor_hal::Impairment {
        latency: Some(Duration::from_millis(30)),
        loss_percent: Some(10.0),
        bandwidth_kbps: Some(512),
        ..Default::default()
    });
    let behaviour = Behaviour {
        cut_after: Some(10_000),
        cuts: 2,
        ..Behaviour::default()
    };
    u.offer(&u.builds.next.clone(), behaviour);
    u.send("ota update").await;
    u.expect("ota: transfer interrupted at byte 10000", 20)
        .await;
    u.expect("ota: transfer interrupted at byte 20000", 20)
        .await;
    u.expect(r"ota: committed slot B fw 3\.1\.0", 40).await;
    let stats = u.server.stats();
    assert_eq!((stats.cuts, stats.ranged_requests), (2, 2));
    assert_eq!(stats.bytes_redownloaded, 0, "{:?}", u.server.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_transfer_is_given_up_and_resumed() {
    let mut u = unit("3.0.2", Vec::new()).await;
    let behaviour = Behaviour {
        stall: Some((12_000, Duration::from_secs(6))),
        ..Behaviour::default()
    };
    u.offer(&u.builds.next.clone(), behaviour);
    u.send("ota update").await;
    u.expect(
        r"ota: transfer interrupted at byte 12000: no answer in 4 s",
        15,
    )
    .await;
    u.expect(r"ota: committed slot B fw 3\.1\.0", 30).await;
    assert_eq!(u.server.stats().ranged_requests, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_mid_write_boots_the_old_image_and_the_download_resumes() {
    let mut u = unit("3.0.2", Vec::new()).await;
    // Slow enough that the write takes seconds: 64 kbit/s is 8 KiB a second.
    let link = u.slow_link(rigor_hal::Impairment {
        bandwidth_kbps: Some(64),
        ..Default::default()
    });
    u.offer(&u.builds.next.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(r"ota: \d+ bytes written", 10).await;
    u.power_cut().await;
    u.expect(r"\[boot\] fridge-ctl/gen3 v3\.0\.2", 5).await;
    assert_eq!(u.status().await, "ota: running slot A fw 3.0.2 committed");
    link.clear().await.unwrap();
    u.send("ota update").await;
    u.expect(r"ota: resuming fw 3\.1\.0 into slot B at byte \d+", 10)
        .await;
    u.expect(r"ota: committed slot B fw 3\.1\.0", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_with_the_bricks_on_power_cut_fault_never_boots_after_a_cut_mid_write() {
    let mut u = unit("3.0.2", vec![Fault::BricksOnPowerCut]).await;
    u.slow_link(rigor_hal::Impairment {
        bandwidth_kbps: Some(64),
        ..Default::default()
    });
    u.offer(&u.builds.next.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(r"ota: \d+ bytes written", 10).await;
    u.power_cut().await;
    let banner = regex::Regex::new(r"\[boot\]").unwrap();
    assert!(
        u.console
            .expect(&banner, Duration::from_secs(3))
            .await
            .is_err(),
        "a bricked unit booted: {}",
        u.transcript()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_truncated_and_downgraded_images_are_refused_and_the_unit_stays_put() {
    let mut u = unit("3.0.2", Vec::new()).await;
    let next = u.builds.next.clone();
    let corrupt = Behaviour {
        corrupt: true,
        ..Behaviour::default()
    };
    u.offer(&next, corrupt);
    u.send("ota update").await;
    u.expect(
        r"ota: refused fw 3\.1\.0: .*is not the one its manifest describes: sha-256",
        10,
    )
    .await;
    let truncate = Behaviour {
        truncate: Some(5000),
        ..Behaviour::default()
    };
    u.offer(&next, truncate);
    u.send("ota update").await;
    u.expect(r"ota: refused fw 3\.1\.0: .*size is 5000", 10)
        .await;
    u.offer(&u.builds.downgrade.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(r"ota: refused fw 3\.0\.0: .*a downgrade is refused", 10)
        .await;
    // The downgrade was refused from its manifest: not a byte of the image was fetched.
    assert_eq!(u.server.stats().image_requests, 0);
    assert_eq!(u.status().await, "ota: running slot A fw 3.0.2 committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_fails_its_health_check_or_crashes_is_rolled_back() {
    let mut u = unit("3.0.2", Vec::new()).await;
    u.offer(&u.builds.fails_selftest.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(
        r"ota: health check failed: self-test failed; rolling back",
        20,
    )
    .await;
    u.expect(r"ota: rolled back to slot A fw 3\.0\.2", 10).await;
    assert_eq!(u.status().await, "ota: running slot A fw 3.0.2 committed");

    u.offer(&u.builds.crashes.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(
        r"ota: rolled back to slot A fw 3\.0\.2 \(slot B did not come up in 3 boots\)",
        20,
    )
    .await;
    assert_eq!(u.transcript().matches("panic: hard fault").count(), 3);
}

/// The shipped buggy build 3.0.3: its update client commits before the health check, so an
/// image that fails it stays on the unit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_build_that_commits_before_its_health_check_keeps_a_failing_image() {
    let mut u = unit("3.0.3", Vec::new()).await;
    u.offer(&u.builds.fails_selftest.clone(), Behaviour::default());
    u.send("ota update").await;
    u.expect(
        r"ota: installed fw 3\.1\.1\+fails-selftest in slot B, committed",
        20,
    )
    .await;
    u.expect(r"\[boot\] fridge-ctl/gen3 v3\.1\.1", 10).await;
    assert_eq!(
        u.status().await,
        "ota: running slot B fw 3.1.1+fails-selftest committed"
    );
}
