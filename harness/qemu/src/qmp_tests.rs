#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::*;

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b2"}, "capabilities": ["oob"]}}"#;

/// The QEMU end of a connection, played line by line.
struct Peer {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
}

impl Peer {
    async fn send(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.unwrap();
        self.write.write_all(b"\n").await.unwrap();
    }

    /// The next command: its name and id.
    async fn command(&mut self) -> (String, u64) {
        let line = self.lines.next_line().await.unwrap().expect("a command");
        let v: Value = serde_json::from_str(&line).unwrap();
        (
            v["execute"].as_str().unwrap().to_owned(),
            v["id"].as_u64().unwrap(),
        )
    }
}

/// A client handshaking with a peer that greets and accepts capabilities.
async fn connected() -> (Qmp, Peer) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (read, write) = theirs.into_split();
    let mut peer = Peer {
        lines: BufReader::new(read).lines(),
        write,
    };
    let client = tokio::spawn(Qmp::handshake(
        ours,
        ExitWatch::detached(),
        Duration::from_secs(5),
    ));
    peer.send(GREETING).await;
    let (name, id) = peer.command().await;
    assert_eq!(name, "qmp_capabilities");
    peer.send(&format!(r#"{{"return": {{}}, "id": {id}}}"#))
        .await;
    (client.await.unwrap().unwrap(), peer)
}

#[tokio::test]
async fn the_greeting_gives_the_version() {
    let (qmp, _peer) = connected().await;
    assert_eq!(
        (
            qmp.version().qemu.major,
            qmp.version().qemu.minor,
            qmp.version().qemu.micro
        ),
        (7, 2, 22)
    );
}

#[tokio::test]
async fn events_between_a_command_and_its_reply_go_to_subscribers() {
    let (qmp, mut peer) = connected().await;
    let mut events = qmp.events();
    let status = tokio::spawn(async move { (qmp.query_status().await, qmp) });
    let (name, id) = peer.command().await;
    assert_eq!(name, "query-status");
    peer.send(r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}"#)
        .await;
    peer.send(&format!(
        r#"{{"return": {{"status": "running", "singlestep": false, "running": true}}, "id": {id}}}"#
    ))
    .await;
    let (status, _qmp) = status.await.unwrap();
    assert_eq!(
        status.unwrap(),
        RunState {
            status: "running".into(),
            running: true
        }
    );
    let event = events.recv().await.unwrap();
    assert_eq!((event.name.as_str(), &event.data), ("RESUME", &Value::Null));
}

#[tokio::test]
async fn replies_find_their_command_by_id_in_any_order() {
    let (qmp, mut peer) = connected().await;
    let qmp = Arc::new(qmp);
    let first = tokio::spawn({
        let qmp = qmp.clone();
        async move { qmp.qom_get("/a", "x").await }
    });
    let (_, first_id) = peer.command().await;
    let second = tokio::spawn({
        let qmp = qmp.clone();
        async move { qmp.qom_get("/b", "x").await }
    });
    let (_, second_id) = peer.command().await;
    peer.send(&format!(r#"{{"return": 2, "id": {second_id}}}"#))
        .await;
    peer.send(&format!(r#"{{"return": 1, "id": {first_id}}}"#))
        .await;
    assert_eq!(first.await.unwrap().unwrap(), json!(1));
    assert_eq!(second.await.unwrap().unwrap(), json!(2));
}

#[tokio::test]
async fn an_error_reply_keeps_qemus_class_and_description() {
    let (qmp, mut peer) = connected().await;
    let set = tokio::spawn(async move {
        qmp.qom_set("/machine/peripheral/temp0", "temperature", json!(999_999))
            .await
    });
    let (_, id) = peer.command().await;
    peer.send(&format!(
        r#"{{"error": {{"class": "GenericError", "desc": "value 999.999 C is out of range"}}, "id": {id}}}"#
    ))
    .await;
    let err = set.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "qmp command `qom-set` failed: GenericError: value 999.999 C is out of range"
    );
}

#[tokio::test]
async fn a_closed_connection_fails_the_waiting_command_and_later_ones() {
    let (qmp, mut peer) = connected().await;
    let qmp = Arc::new(qmp);
    let waiting = tokio::spawn({
        let qmp = qmp.clone();
        async move { qmp.cont().await }
    });
    peer.command().await;
    drop(peer);
    let err = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            QemuError::Closed {
                channel: Channel::Qmp
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        qmp.cont().await,
        Err(QemuError::Closed { .. } | QemuError::Io { .. })
    ));
    // `quit` on a connection QEMU closed is done, not failed.
    qmp.quit().await.unwrap();
}

#[tokio::test]
async fn a_pty_is_found_by_label_and_its_absence_names_what_there_is() {
    let (qmp, mut peer) = connected().await;
    let qmp = Arc::new(qmp);
    let list = r#"[{"frontend-open": true, "filename": "unix:", "label": "qtest"}, {"frontend-open": true, "filename": "pty:/dev/pts/7", "label": "serial0"}]"#;
    for (label, expected) in [("serial0", Ok("/dev/pts/7")), ("serial1", Err(()))] {
        let found = tokio::spawn({
            let qmp = qmp.clone();
            async move { qmp.pty_of(label).await }
        });
        let (name, id) = peer.command().await;
        assert_eq!(name, "query-chardev");
        peer.send(&format!(r#"{{"return": {list}, "id": {id}}}"#))
            .await;
        match (found.await.unwrap(), expected) {
            (Ok(path), Ok(want)) => assert_eq!(path, PathBuf::from(want)),
            (Err(e), Err(())) => assert_eq!(
                e.to_string(),
                "a pty chardev labelled `serial1` not found on the machine: chardevs are qtest \
                 (unix:), serial0 (pty:/dev/pts/7)"
            ),
            (got, want) => panic!("got {got:?}, wanted {want:?}"),
        }
    }
}

#[tokio::test]
async fn a_peer_that_does_not_greet_is_no_qmp_server() {
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    theirs.write_all(b"hello\n").await.unwrap();
    let err = Qmp::handshake(ours, ExitWatch::detached(), Duration::from_secs(5))
        .await
        .err()
        .expect("no handshake");
    assert!(
        err.to_string()
            .starts_with("qmp: unexpected message from qemu: expected the greeting, got hello"),
        "{err}"
    );
}
