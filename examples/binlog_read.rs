//! The binlog-read baseline of `scripts/bench.sh binlog`: stream the binlog
//! from a position with `mysql_async` (the crate Sluice uses), decode every
//! rows event into its row images, and discard them.
//!
//! ```text
//! binlog_read URL FILE POS DATABASE ROWS
//! ```
//!
//! Decodes the rows events of DATABASE's tables (others are skipped, as a
//! source skips tables it does not capture) and stops once ROWS rows were decoded and prints `rows=N seconds=S`
//! (the time from the stream request to the last row). This is the ceiling a
//! binlog source can reach on this server and machine: the same network
//! reads and the same `mysql_common` row decoding, without Sluice's schema
//! mapping, encoding and Kafka.

use std::time::Instant;

use futures::StreamExt;
use mysql_async::binlog::events::EventData;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, file, pos, database, rows] = args.as_slice() else {
        return Err("usage: binlog_read URL FILE POS DATABASE ROWS".into());
    };
    let want: u64 = rows.parse()?;
    let mut conn = Conn::new(Opts::from_url(url)?).await?;
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    if version.is_some_and(|v| v.contains("MariaDB")) {
        // GTID events as such, not as BEGIN queries (as Sluice asks for too).
        conn.query_drop("SET @mariadb_slave_capability = 4").await?;
    }
    let started = Instant::now();
    let request = BinlogStreamRequest::new(4_000_000_000 + std::process::id() % 1000)
        .with_filename(file.as_bytes())
        .with_pos(pos.parse::<u64>()?);
    let mut stream = conn.get_binlog_stream(request).await?;
    let mut seen = 0u64;
    let mut values = 0u64;
    while seen < want {
        let Some(ev) = stream.next().await else {
            return Err(format!("the stream ended after {seen} rows").into());
        };
        let ev = ev?;
        if let Some(EventData::RowsEvent(r)) = ev.read_data()? {
            let tme = stream
                .get_tme(r.table_id())
                .ok_or("rows event before its table map")?;
            if tme.database_name() != database.as_str() {
                continue;
            }
            for row in r.rows(tme) {
                let (before, after) = row?;
                for image in [before, after].into_iter().flatten() {
                    values += image.unwrap().len() as u64;
                }
                seen += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("rows={seen} values={values} seconds={secs:.3}");
    Ok(())
}
