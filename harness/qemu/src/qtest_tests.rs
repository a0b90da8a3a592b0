#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::*;

/// A client and the QEMU end of its connection.
fn connected(
    timeout: Duration,
) -> (
    Arc<Qtest>,
    tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    tokio::net::unix::OwnedWriteHalf,
) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (read, write) = theirs.into_split();
    let qtest = Arc::new(Qtest::new(ours, ExitWatch::detached(), timeout));
    (qtest, BufReader::new(read).lines(), write)
}

#[tokio::test]
async fn irq_reports_around_an_answer_reach_watchers_not_the_command() {
    let (qtest, mut lines, mut write) = connected(Duration::from_secs(5));
    let (level, mut changes) = qtest.watch_irq(0).await.unwrap();
    assert!(!level);
    let set = tokio::spawn({
        let qtest = qtest.clone();
        async move {
            qtest
                .set_irq_in("/machine/unattached/device[14]", None, 0, true)
                .await
        }
    });
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "set_irq_in /machine/unattached/device[14] unnamed-gpio-in 0 1"
    );
    write
        .write_all(b"IRQ raise 0\nOK\nIRQ raise 3\n")
        .await
        .unwrap();
    set.await.unwrap().unwrap();
    let first = changes.recv().await.unwrap();
    let second = changes.recv().await.unwrap();
    assert_eq!((first.line, first.high), (0, true));
    assert_eq!((second.line, second.high), (3, true));
    assert!(qtest.irq_level(0) && qtest.irq_level(3) && !qtest.irq_level(1));
}

#[tokio::test]
async fn a_fail_answer_is_an_error_with_qemus_words() {
    let (qtest, mut lines, mut write) = connected(Duration::from_secs(5));
    let intercept = tokio::spawn({
        let qtest = qtest.clone();
        async move { qtest.irq_intercept_out("/machine/nothing").await }
    });
    lines.next_line().await.unwrap();
    write.write_all(b"FAIL Unknown device\n").await.unwrap();
    let err = intercept.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "qtest command `irq_intercept_out /machine/nothing` failed: FAIL Unknown device"
    );
    assert_eq!(qtest.intercepted(), None);
}

#[tokio::test]
async fn a_late_answer_is_not_taken_for_the_next_commands() {
    let (qtest, mut lines, mut write) = connected(Duration::from_millis(200));
    let err = qtest.readl(0x4002_53fc).await.unwrap_err();
    assert!(matches!(err, QemuError::Timeout { .. }), "{err:?}");
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "readl 0x400253fc"
    );
    // The first answer arrives late, after the caller gave up.
    write.write_all(b"OK 0x00000000\n").await.unwrap();
    let read = tokio::spawn({
        let qtest = qtest.clone();
        async move { qtest.readl(0x4002_63fc).await }
    });
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "readl 0x400263fc"
    );
    write.write_all(b"OK 0x00000001\n").await.unwrap();
    assert_eq!(read.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn watchers_learn_when_the_connection_ends() {
    let (qtest, lines, write) = connected(Duration::from_secs(5));
    let (_, mut changes) = qtest.watch_irq(0).await.unwrap();
    drop((lines, write));
    assert!(matches!(
        changes.recv().await,
        Err(broadcast::error::RecvError::Closed)
    ));
    let err = qtest.watch_irq(0).await.expect_err("closed");
    assert!(
        matches!(
            err,
            QemuError::Closed {
                channel: Channel::Qtest
            }
        ),
        "{err:?}"
    );
}
