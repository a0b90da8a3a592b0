//! The expect engine on `rigor_hal`'s fake console, under paused time: matching, settling,
//! timeouts, reopening, captures and the transcript, independent of any OS port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::time::Duration;

use regex::Regex;
use rigor_console::{
    ConsoleSession, Direction, ExpectError, LineEnding, ReopenPolicy, SessionOptions, Until,
};
use rigor_hal::fake::{ConsoleDevice, FakeConsole};
use rigor_hal::{Blame, HalError};

fn re(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn session(options: SessionOptions) -> (ConsoleSession, ConsoleDevice) {
    let (port, device) = FakeConsole::pair();
    (
        ConsoleSession::with_options(Box::new(port), options),
        device,
    )
}

#[tokio::test(start_paused = true)]
async fn an_expect_leaves_what_follows_its_match_for_the_next() {
    let (mut console, device) = session(SessionOptions::default());
    device.send("boot: fw 2.1.0\r\nready\r\nfridge> ");
    let fw = console
        .expect(&re(r"fw (?P<fw>\S+)"), secs(5))
        .await
        .unwrap();
    assert_eq!(
        (fw.before.as_str(), fw.text.as_str()),
        ("boot: ", "fw 2.1.0")
    );
    assert_eq!(fw.captures["fw"], "2.1.0");
    let ready = console.expect(&re("ready"), secs(5)).await.unwrap();
    assert_eq!(ready.before, "\r\n");
    let prompt = console.expect(&re("fridge> "), secs(5)).await.unwrap();
    assert_eq!(prompt.before, "\r\n");
}

#[tokio::test(start_paused = true)]
async fn a_match_that_could_still_grow_waits_for_the_rest_of_the_token() {
    let (mut console, device) = session(SessionOptions::default());
    let talker = device.clone();
    tokio::spawn(async move {
        talker.send("boot: fw 1.2");
        tokio::time::sleep(Duration::from_millis(5)).await;
        talker.send(".0\r\n");
    });
    let m = console
        .expect(&re(r"fw (?P<fw>\S+)"), secs(5))
        .await
        .unwrap();
    assert_eq!(m.captures["fw"], "1.2.0");

    // A fixed text needs no settling: it is taken as soon as it is there.
    device.send("login: ");
    let before = console.elapsed();
    console.expect(&re("login: "), secs(5)).await.unwrap();
    assert_eq!(console.elapsed(), before);
}

#[tokio::test(start_paused = true)]
async fn a_missing_pattern_times_out_with_the_last_output() {
    let (mut console, device) = session(SessionOptions::default());
    let err = console.expect(&re("ready"), secs(1)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`ready` not seen within 1s; the device sent nothing"
    );
    device.send(b"\xff\x00booting... temp: 4.2");
    let err = console
        .expect_any(&[re("ready"), re(r"panic: (?P<why>.*)")], secs(3))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "any of `ready`, `panic: (?P<why>.*)` not seen within 3s; \
         last output: \"\u{fffd}\\0booting... temp: 4.2\""
    );
    assert_eq!(err.blame(), Blame::Device);
}

#[tokio::test(start_paused = true)]
async fn the_earliest_match_of_several_wins() {
    let (mut console, device) = session(SessionOptions::default());
    device.send("E42 watchdog\r\nready\r\n");
    let (which, m) = console
        .expect_any(&[re("ready"), re(r"E(?P<code>\d+)")], secs(1))
        .await
        .unwrap();
    assert_eq!((which, m.captures["code"].as_str()), (1, "42"));
    let (which, _) = console
        .expect_any(&[re("ready"), re(r"E(?P<code>\d+)")], secs(1))
        .await
        .unwrap();
    assert_eq!(which, 0);
}

#[tokio::test(start_paused = true)]
async fn captures_end_at_a_match_or_after_a_time() {
    let (mut console, device) = session(SessionOptions::default());
    device.send("sensor 1 ok\r\nsensor 2 ok\r\ndone\r\nlater");
    let until_done = console
        .capture(Until::Match {
            pattern: &re("done"),
            within: secs(1),
        })
        .await
        .unwrap();
    assert_eq!(until_done, "sensor 1 ok\r\nsensor 2 ok\r\ndone");
    let rest = console
        .capture(Until::Elapsed(Duration::from_millis(100)))
        .await
        .unwrap();
    assert_eq!(rest, "\r\nlater");
}

#[tokio::test(start_paused = true)]
async fn a_vanished_port_is_reopened_and_the_wait_goes_on() {
    let (mut console, device) = session(SessionOptions::default());
    device.unplug();
    // The port task notices when it next touches the port.
    assert!(console.send("x", LineEnding::None, None).await.is_err());
    assert!(!console.is_connected());

    // Still gone at the deadline: the rig's fault, with the reason and the attempts.
    let err = console.expect(&re("banner"), secs(2)).await.unwrap_err();
    let ExpectError::PortGone { failed_reopens, .. } = &err else {
        panic!("{err}")
    };
    assert!(*failed_reopens >= 3, "{err}");
    assert_eq!(err.blame(), Blame::Rig);
    assert!(
        err.to_string()
            .starts_with("console fake console was gone while waiting for `banner`"),
        "{err}"
    );

    device.plug_in();
    device.send("banner\r\n");
    let m = console.expect(&re("banner"), secs(5)).await.unwrap();
    assert_eq!(m.text, "banner");
    assert!(console.is_connected());
    let events = console.transcript().events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].starts_with("fake console vanished while written to"));
    assert!(events[1].starts_with("fake console reopened after "));
}

#[tokio::test(start_paused = true)]
async fn without_reopening_a_vanished_port_ends_the_wait_at_once() {
    let options = SessionOptions {
        reopen: ReopenPolicy::Never,
        ..SessionOptions::default()
    };
    let (mut console, device) = session(options);
    device.vanish();
    let _ = console.send("x", LineEnding::None, None).await;
    let start = console.elapsed();
    let err = console.expect(&re("banner"), secs(60)).await.unwrap_err();
    assert!(matches!(err, ExpectError::PortGone { .. }), "{err}");
    assert_eq!(console.elapsed(), start);
    assert_eq!(device.reopens(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_flood_drops_the_oldest_input_and_the_transcript_says_so() {
    let options = SessionOptions {
        buffer_limit: 64 * 1024,
        ..SessionOptions::default()
    };
    let (mut console, device) = session(options);
    for _ in 0..100 {
        device.send("x".repeat(1000));
    }
    device.send("END\r\n");
    let m = console.expect(&re("END"), secs(1)).await.unwrap();
    assert!(m.before.len() <= 64 * 1024);
    let t = console.transcript();
    assert_eq!(
        t.received().len(),
        100_005,
        "the transcript keeps every byte"
    );
    assert!(
        t.events()
            .iter()
            .any(|e| e.starts_with("input no pattern matched overflowed")),
        "{:?}",
        t.events()
    );
}

#[tokio::test(start_paused = true)]
async fn paced_sends_arrive_whole_and_are_in_the_transcript() {
    let (console, device) = session(SessionOptions::default());
    console
        .send("AT+RST", LineEnding::CrLf, Some(Duration::from_millis(5)))
        .await
        .unwrap();
    console.set_baud(9600).await.unwrap();
    assert_eq!(device.take_written(), b"AT+RST\r\n");
    assert_eq!(device.baud(), 9600);
    let t = console.transcript();
    let sent: Vec<_> = t
        .entries()
        .filter(|e| e.direction == Direction::Sent)
        .collect();
    assert_eq!(sent.len(), 8, "one entry a paced byte");
    assert!(sent.windows(2).all(|w| w[1].at > w[0].at));
    let text = t.to_text();
    assert!(text.contains("] > AT+RST\n"), "{text}");
    assert!(text.contains("] ! baud rate set to 9600\n"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn closing_the_session_closes_the_port() {
    let (console, device) = session(SessionOptions::default());
    console.close().await;
    assert_eq!(device.received().await, None);
}

#[tokio::test(start_paused = true)]
async fn errors_of_the_port_reach_the_sender() {
    let (console, device) = session(SessionOptions {
        reopen: ReopenPolicy::Never,
        ..SessionOptions::default()
    });
    device.vanish();
    let err = console
        .send("status", LineEnding::Cr, None)
        .await
        .unwrap_err();
    assert!(matches!(err, HalError::Disconnected { .. }), "{err}");
    let again = console.send("status", LineEnding::Cr, None).await;
    assert!(
        again.is_err(),
        "a vanished port stays gone without a reopen"
    );
}
