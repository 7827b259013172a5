//! The snapshot baseline of `scripts/bench.sh snapshot`: read a table in
//! primary-key order with keyset pagination through `mysql_async` (the crate
//! Sluice uses), decode every row into its values, and discard them.
//!
//! ```text
//! keyset_read URL TABLE KEY CHUNK
//! ```
//!
//! Runs `SELECT * FROM TABLE WHERE KEY > ? ORDER BY KEY LIMIT CHUNK` (the
//! first chunk without the `WHERE`) until a chunk comes back short, then
//! prints `rows=N chunks=C seconds=S`. KEY must be the table's single-column
//! integer primary key. This is what a plain client pays to read the table the
//! way Sluice's chunked snapshot pages it, without watermarks, the binlog
//! stream, encoding or Kafka.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, table, key, chunk] = args.as_slice() else {
        return Err("usage: keyset_read URL TABLE KEY CHUNK".into());
    };
    let chunk: usize = chunk.parse()?;
    if chunk == 0 {
        return Err("CHUNK must be > 0".into());
    }
    let mut conn = Conn::new(Opts::from_url(url)?).await?;
    let key_at = {
        let cols: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table.as_str(),),
            )
            .await?;
        cols.iter()
            .position(|c| c == key)
            .ok_or_else(|| format!("table {table} has no column {key}"))?
    };
    let first = format!("SELECT * FROM `{table}` ORDER BY `{key}` LIMIT {chunk}");
    let next = format!("SELECT * FROM `{table}` WHERE `{key}` > ? ORDER BY `{key}` LIMIT {chunk}");
    let started = Instant::now();
    let (mut rows, mut chunks, mut values) = (0u64, 0u64, 0u64);
    let mut last: Option<Value> = None;
    loop {
        let page: Vec<Row> = match &last {
            None => conn.query(&first).await?,
            Some(k) => conn.exec(&next, (k.clone(),)).await?,
        };
        chunks += 1;
        rows += page.len() as u64;
        let full = page.len() == chunk;
        if let Some(row) = page.last() {
            last = Some(
                row.as_ref(key_at)
                    .cloned()
                    .ok_or("a row without its key column")?,
            );
        }
        for row in page {
            values += row.unwrap().len() as u64;
        }
        if !full {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("rows={rows} chunks={chunks} values={values} seconds={secs:.3}");
    Ok(())
}
