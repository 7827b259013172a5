//! The apply transaction's offsets compare-and-set: two members of one
//! consumer group that both believe they own a partition (one of them frozen
//! through a rebalance) race to apply the same records. The stored next
//! offset is locked and checked inside the transaction, so exactly one of
//! them applies each batch and the other gets `SinkError::OffsetsMoved`
//! with nothing written. The "records" here increment a counter, so an
//! apply that ran twice would show.

use sluice::config::DbEndpoint;
use sluice::sink::plan::Statement;
use sluice::sink::target::{OffsetRow, Target};
use sluice::sink::SinkError;

use crate::both_flavors;
use crate::support::*;

both_flavors!(racing_members_never_double_apply_mysql);

const SINK: &str = "cas";
const TOPIC: &str = "orders";
const ROUNDS: i64 = 25;
const BATCH: i64 = 10;

async fn connect(url: &str) -> Target {
    let ep = DbEndpoint::resolve("test", url, None, None, None).expect("endpoint");
    Target::connect(&ep)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e} (are the services up? scripts/services.sh up)"))
}

fn rows(offset: i64) -> Vec<OffsetRow> {
    vec![(SINK.to_string(), TOPIC.to_string(), 0, offset)]
}

/// Applies "records" `[first, first + BATCH)` of partition 0: one counter increment.
async fn apply(t: &mut Target, first: i64) -> Result<(), SinkError> {
    let bump = Statement::Sql("UPDATE counter SET n = n + 1 WHERE id = 1".into());
    t.apply_steps(&[bump], &rows(first + BATCH), &rows(first))
        .await
}

/// Races two members over `ROUNDS` batches on the target at `url`; `read`
/// returns the counter.
async fn race<F, Fut>(url: &str, read: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = i64>,
{
    let mut a = connect(url).await;
    let mut b = connect(url).await;
    a.ensure_offsets_table().await.expect("offsets table");
    a.execute_ddl("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .await
        .expect("counter table");
    a.apply(
        &["INSERT INTO counter (id, n) VALUES (1, 0)".to_string()],
        &[],
    )
    .await
    .expect("counter row");
    for round in 0..ROUNDS {
        let first = round * BATCH;
        // Both members apply the same batch at the same time.
        let (ra, rb) = tokio::join!(apply(&mut a, first), apply(&mut b, first));
        let outcomes = [&ra, &rb];
        let applied = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            applied, 1,
            "round {round}: exactly one member applies: {ra:?} / {rb:?}"
        );
        for r in outcomes.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, SinkError::OffsetsMoved { stored, first: f, .. } if *stored == first + BATCH && *f == first),
                "round {round}: the loser is told the offsets moved: {r}"
            );
        }
        assert_eq!(read().await, round + 1, "round {round}: counter");
    }
    // A member frozen since the first round wakes up and applies its old batch.
    let stale = apply(&mut b, 0).await;
    assert!(
        matches!(stale, Err(SinkError::OffsetsMoved { stored, first: 0, .. }) if stored == ROUNDS * BATCH),
        "stale member refused: {stale:?}"
    );
    assert_eq!(read().await, ROUNDS, "nothing applied by the stale member");
    // A gap (a transaction marker's offset) is not a move.
    apply(&mut a, ROUNDS * BATCH + 1)
        .await
        .expect("batch after a gap");
    assert_eq!(read().await, ROUNDS + 1);
    let stored = a.load_offsets(SINK).await.expect("offsets");
    assert_eq!(
        stored.get(&(TOPIC.to_string(), 0)),
        Some(&((ROUNDS + 1) * BATCH + 1))
    );
    a.close().await;
    b.close().await;
}

async fn racing_members_never_double_apply_mysql(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, &format!("cas_{}", flavor.tag())).await;
    race(&db.url(), || async {
        db.rows("SELECT n FROM counter").await[0][0]
            .parse()
            .expect("n")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_members_never_double_apply_postgres() {
    let db = Postgres::create("cas_pg").await;
    race(&db.url(), || async {
        db.rows("SELECT n FROM counter").await[0][0]
            .parse()
            .expect("n")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_members_never_double_apply_sqlite() {
    let dir = scratch("cas_sqlite");
    let path = dir.join("t.db");
    let url = format!("sqlite://{}", path.display());
    race(&url, || async {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.query_row("SELECT n FROM counter", [], |r| r.get(0))
            .expect("n")
    })
    .await;
}
