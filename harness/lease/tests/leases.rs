//! Leases against a real PostgreSQL: fencing tokens, expiry of a frozen holder, fair waiting,
//! and many contenders never sharing a slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::time::Duration;

use rigor_lease::{Holder, LeaseDb, LeaseError, Pick, Want};
use rigor_pg_cluster::Cluster;

fn want(slot: &str, who: &str, ttl_ms: u64, wait: Option<Duration>) -> Want {
    Want {
        rig: "rack-a".into(),
        pick: Pick::Slot(slot.into()),
        ttl: Duration::from_millis(ttl_ms),
        wait,
        priority: 0,
        holder: Holder {
            name: who.into(),
            host: "test".into(),
            pid: 1,
            job: None,
        },
    }
}

/// Whether `history` ever shows a slot granted while it was still held.
fn overlaps(history: &[rigor_lease::HistoryEntry]) -> Vec<String> {
    let mut held: BTreeMap<&str, i64> = BTreeMap::new();
    let mut problems = Vec::new();
    for h in history {
        match h.event.as_str() {
            "granted" => {
                if let Some(other) = held.insert(&h.slot, h.token) {
                    problems.push(format!(
                        "{} granted token {} while {other} held it",
                        h.slot, h.token
                    ));
                }
            }
            _ => {
                if held.get(h.slot.as_str()) == Some(&h.token) {
                    held.remove(h.slot.as_str());
                }
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_holder_expires_the_next_gets_a_larger_token_and_the_stale_one_stops() {
    let cluster = Cluster::start().unwrap();
    let db = LeaseDb::open(&cluster.url()).await.unwrap();
    // Frozen: never renewed (as a holder stopped with SIGSTOP cannot renew). Its time to live
    // leaves a loaded runner seconds for the refusal below, which must come before it expires.
    let frozen = db
        .acquire(&want("slot1", "frozen", 3_000, None))
        .await
        .unwrap();
    assert!(frozen.lost().is_none());
    let busy = db
        .acquire(&want("slot1", "eager", 600, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&busy, LeaseError::Busy { why, .. } if why.contains("slot1 is held by frozen")),
        "{busy}"
    );
    let next = db
        .acquire(&want("slot1", "next", 5_000, Some(Duration::from_secs(30))))
        .await
        .unwrap();
    assert!(next.grants()[0].token > frozen.grants()[0].token);
    // The frozen holder's own clock already stopped it, a margin before the database's expiry.
    let why = frozen.lost().expect("the frozen holder must stop");
    assert!(why.contains("could not be renewed"), "{why}");
    let stale = frozen.grants()[0].token;
    let err = db
        .adopt("rack-a", "slot1", stale, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LeaseError::NotHeld { token, .. } if token == stale),
        "{err}"
    );
    let history = db.history("rack-a").await.unwrap();
    let events: Vec<&str> = history.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(events, ["granted", "expired", "granted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lease_outlives_its_ttl_and_a_broken_one_is_lost_at_the_next_heartbeat() {
    let cluster = Cluster::start().unwrap();
    let db = LeaseDb::open(&cluster.url()).await.unwrap();
    // A time to live whose heartbeat (a quarter of it) a loaded runner still keeps.
    let mut lease = db.acquire(&want("slot2", "ci", 6_000, None)).await.unwrap();
    lease.start_heartbeat();
    let token = lease.grants()[0].token;
    // Held well past its time to live through renewals: still the same token.
    let until = tokio::time::Instant::now() + Duration::from_millis(9_000);
    while tokio::time::Instant::now() < until {
        assert!(lease.lost().is_none());
        assert_eq!(db.list().await.unwrap()[0].token, Some(token));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let broken = db
        .break_lease("rack-a", "slot2", "bench rewired", "tech-7")
        .await
        .unwrap();
    assert_eq!(broken, Some(token));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let why = loop {
        if let Some(why) = lease.lost() {
            break why;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the break was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(why.contains(&format!("token {token} is stale")), "{why}");
    let history = db.history("rack-a").await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.event, "broken");
    assert_eq!(last.reason.as_deref(), Some("by tech-7: bench rewired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_are_served_first_come_first_served_and_by_priority() {
    let cluster = Cluster::start().unwrap();
    let db = LeaseDb::open(&cluster.url()).await.unwrap();
    let first = db
        .acquire(&want("slot3", "first", 30_000, None))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let queue = |who: &'static str, priority: i32| {
        let (db, tx) = (db.clone(), tx.clone());
        let mut w = want("slot3", who, 30_000, Some(Duration::from_secs(60)));
        w.priority = priority;
        tokio::spawn(async move {
            let lease = db.acquire(&w).await.unwrap();
            tx.send(who).unwrap();
            lease.release().await.unwrap();
        })
    };
    let mut tasks = Vec::new();
    // Each takes its place in the queue before the next arrives.
    for (n, (who, priority)) in [("b", 0), ("c", 0), ("d", 0), ("urgent", 5)]
        .into_iter()
        .enumerate()
    {
        tasks.push(queue(who, priority));
        let cluster = &cluster;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while waiters(cluster) < n + 1 {
            assert!(tokio::time::Instant::now() < deadline, "{who} never queued");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    first.release().await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let mut order = Vec::new();
    while let Ok(who) = rx.try_recv() {
        order.push(who);
    }
    assert_eq!(order, ["urgent", "b", "c", "d"]);
}

fn waiters(cluster: &Cluster) -> usize {
    cluster
        .psql("SELECT count(*) FROM rigor_lease_waiters WHERE alive_until > now()")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_contenders_for_four_slots_never_hold_one_slot_together() {
    let cluster = Cluster::start().unwrap();
    let db = LeaseDb::open(&cluster.url()).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..50 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..3 {
                let slot = format!("slot{}", (n + round) % 4 + 1);
                let who = format!("c{n}");
                let lease = db
                    .acquire(&want(&slot, &who, 30_000, Some(Duration::from_secs(120))))
                    .await
                    .unwrap();
                // Hold it across a round trip to the database, as a run holds it across steps.
                assert_eq!(
                    db.list()
                        .await
                        .unwrap()
                        .iter()
                        .find(|l| l.slot == slot)
                        .and_then(|l| l.token),
                    Some(lease.grants()[0].token)
                );
                lease.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = db.history("rack-a").await.unwrap();
    let grants = history.iter().filter(|h| h.event == "granted").count();
    assert_eq!(grants, 150);
    assert_eq!(overlaps(&history), Vec::<String>::new());
    // A slot's tokens only grow (slots commit side by side, so only per slot).
    for slot in ["slot1", "slot2", "slot3", "slot4"] {
        let tokens: Vec<i64> = history
            .iter()
            .filter(|h| h.event == "granted" && h.slot == slot)
            .map(|h| h.token)
            .collect();
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{slot}: {tokens:?}");
    }
}

/// Regression guard for the rule that matters most: a holder cut off from the database stops
/// running steps before anyone else can be granted its slot. The holder reaches PostgreSQL
/// through rigor's impairment proxy, which then partitions the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_cut_off_from_the_database_stops_before_the_slot_can_go_to_another() {
    use rigor_drivers::net_proxy::ImpairmentProxy;
    use rigor_hal::{Impairment, NetImpairment};

    let cluster = Cluster::start().unwrap();
    let proxy = ImpairmentProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        format!("127.0.0.1:{}", cluster.port()),
    )
    .await
    .unwrap();
    let through_proxy = cluster.url().replace(
        &format!(":{}/", cluster.port()),
        &format!(":{}/", proxy.local_addr().port()),
    );
    let holder_db = LeaseDb::open(&through_proxy).await.unwrap();
    let direct = LeaseDb::open(&cluster.url()).await.unwrap();
    let mut lease = holder_db
        .acquire(&want("slot4", "cut-off", 2_000, None))
        .await
        .unwrap();
    lease.start_heartbeat();
    let gate = lease.gate();
    proxy
        .apply(&Impairment {
            partition: true,
            ..Impairment::default()
        })
        .await
        .unwrap();
    // Another host waits for the slot; the holder's gate is watched meanwhile.
    let other = tokio::spawn(async move {
        let lease = direct
            .acquire(&want(
                "slot4",
                "other",
                10_000,
                Some(Duration::from_secs(60)),
            ))
            .await
            .unwrap();
        (tokio::time::Instant::now(), lease)
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let stopped_at = loop {
        if gate.closed().is_some() {
            break tokio::time::Instant::now();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the holder never stopped"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (granted_at, next) = other.await.unwrap();
    assert!(
        stopped_at < granted_at,
        "the holder stopped {:?} after the slot was granted again",
        stopped_at.saturating_duration_since(granted_at)
    );
    assert!(next.grants()[0].token > lease.grants()[0].token);
    let why = gate.closed().unwrap();
    assert!(why.contains("could not be renewed"), "{why}");
}
