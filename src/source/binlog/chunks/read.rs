//! Reading one chunk from the server between its watermarks (see the
//! parent module's doc): MariaDB's consistent-snapshot position, MySQL's
//! GTID set or position before and after the `SELECT`, or signal-table rows.

use super::*;

impl Chunker {
    /// Low mark, `SELECT`, high mark.
    pub(super) async fn read_bracketed(
        &self,
        conn: &mut Conn,
        at: &StreamAt<'_>,
        table: &TableId,
        keys: Vec<String>,
        last: Option<Vec<MyValue>>,
        limit: usize,
    ) -> Result<Pending, SourceError> {
        if let Some(signal) = &self.job.signal {
            return self
                .read_signalled(conn, signal, table, keys, last, limit)
                .await;
        }
        let waited = tokio::time::Instant::now();
        loop {
            let attempt = match self.info.flavor {
                Flavor::MariaDb => {
                    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                        .await?;
                    let p = snapshot_position(conn).await?;
                    if p >= at.pos {
                        let read = self.select(conn, table, &keys, last.clone(), limit).await;
                        conn.query_drop("COMMIT").await?;
                        Some((Low::Pos(p.clone()), p, read?))
                    } else {
                        conn.query_drop("COMMIT").await?;
                        None
                    }
                }
                Flavor::MySql => {
                    let (pos, gtids) = binlog_status(conn, &self.info).await?;
                    let low = match at.gtids {
                        Some(seen) => {
                            let set: MysqlGtidSet = gtids.parse().unwrap_or_default();
                            set.contains_set(seen).then_some(Low::Gtids(set))
                        }
                        None => (pos >= at.pos).then_some(Low::Pos(pos)),
                    };
                    match low {
                        Some(low) => {
                            let read = self.select(conn, table, &keys, last.clone(), limit).await?;
                            let (high, _) = binlog_status(conn, &self.info).await?;
                            Some((low, high, read))
                        }
                        None => None,
                    }
                }
            };
            if let Some((low, high, read)) = attempt {
                return Ok(read.pending(table, keys, low, high, None));
            }
            // The stream has read a transaction the server has not committed yet.
            if waited.elapsed() > WATERMARK_WAIT {
                return Err(SourceError::WatermarkBehind {
                    table: table.to_string(),
                    stream: at.pos.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Signal-table watermarks: an `snapshot-window-open` row, the `SELECT`,
    /// a `snapshot-window-close` row, each committed on its own (Debezium's
    /// signal table shape: `id`, `type`, `data`).
    async fn read_signalled(
        &self,
        conn: &mut Conn,
        signal: &TableId,
        table: &TableId,
        keys: Vec<String>,
        last: Option<Vec<MyValue>>,
        limit: usize,
    ) -> Result<Pending, SourceError> {
        let id = format!(
            "sluice-{}-{}",
            self.job.pipeline,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let (open, close) = (format!("{id}-open"), format!("{id}-close"));
        let insert = format!(
            "INSERT INTO {}.{} (id, type, data) VALUES (?, ?, ?)",
            quote(&signal.database),
            quote(&signal.table)
        );
        let data = serde_json::json!({"table": table.to_string()}).to_string();
        conn.exec_drop(&insert, (&open, "snapshot-window-open", &data))
            .await?;
        let read = self.select(conn, table, &keys, last, limit).await?;
        conn.exec_drop(&insert, (&close, "snapshot-window-close", &data))
            .await?;
        Ok(read.pending(
            table,
            keys,
            Low::Pos(BinlogPosition::new(String::new(), 0)),
            BinlogPosition::new(String::new(), 0),
            Some(SignalMarks {
                open,
                close,
                opened: false,
                closed: false,
            }),
        ))
    }

    /// One chunk's `SELECT` of up to `limit` rows and [`CHUNK_BYTES`] of
    /// values (the first row always): the schema, the rows with their key
    /// text, the last key, and whether the table is done.
    async fn select(
        &self,
        conn: &mut Conn,
        table: &TableId,
        keys: &[String],
        last: Option<Vec<MyValue>>,
        limit: usize,
    ) -> Result<ChunkRows, SourceError> {
        let filter = self
            .progress
            .as_ref()
            .and_then(|g| g.filters.get(&table.to_string()))
            .map(String::as_str);
        // One row more than a chunk: whether the table ends with this chunk
        // is then known (its last read is marked, see `marks`).
        let (sql, params) = chunk_sql(table, keys, last, limit + 1, filter);
        let semantics = column_details(conn, table).await?;
        let mut stream = conn.exec_stream::<MyRow, _, _>(sql, params).await?;
        let columns = stream.columns();
        let schema = Arc::new(snapshot_schema(table, &columns, &semantics));
        // A key-less table's rows are matched against changes by all columns.
        let key_idx: Vec<usize> = if keys.is_empty() {
            (0..schema.columns.len()).collect()
        } else {
            keys.iter().filter_map(|c| schema.column_index(c)).collect()
        };
        let is_dt = datetime_columns(&columns);
        // A keyed chunk stops at these bounds itself (below); a key-less
        // table's one chunk keeps that much in memory and spools the rest.
        let mut rows = if keys.is_empty() {
            Spool::new(CHUNK_BYTES, limit)
        } else {
            Spool::new(usize::MAX, usize::MAX)
        };
        let mut bytes = 0;
        let mut last_key = None;
        let mut more = false;
        while let Some(row) = stream.next().await {
            let raw = row?.unwrap();
            if !keys.is_empty() && (rows.len() == limit || bytes >= CHUNK_BYTES) {
                // The next chunk's first row (or past the byte bound, where
                // the limit was sized from an estimate): read again then.
                more = true;
                continue;
            }
            let row_bytes = raw.iter().map(value_bytes).sum::<usize>();
            bytes += row_bytes;
            if !keys.is_empty() {
                last_key = Some(
                    key_idx
                        .iter()
                        .map(|&i| KeyPart::from_mysql(&raw[i]))
                        .collect(),
                );
            }
            let mut values = Vec::with_capacity(raw.len());
            for ((v, col), dt) in raw.into_iter().zip(&schema.columns).zip(&is_dt) {
                values.push(value_from_mysql(col, v, self.job.zone, *dt).map_err(|e| {
                    SourceError::Value {
                        table: table.to_string(),
                        source: e,
                    }
                })?);
            }
            rows.push(values, row_bytes)
                .map_err(|e| spool_error(table, e))?;
        }
        if let Some(spooled) = rows.spooled() {
            tracing::info!(pipeline = %self.job.pipeline, table = %table, rows = rows.len(), bytes = spooled, dir = %spool_dir().display(), "snapshot: key-less table spooled to disk until its high watermark");
        }
        Ok(ChunkRows {
            schema,
            rows,
            key_idx,
            bytes,
            last_key,
            done: keys.is_empty() || !more,
        })
    }
}

/// What one chunk's `SELECT` read.
struct ChunkRows {
    schema: Arc<TableSchema>,
    /// The rows read.
    rows: Spool,
    /// Where the key columns are in a row.
    key_idx: Vec<usize>,
    /// Bytes of their values as read ([`value_bytes`]).
    bytes: usize,
    /// The last row's key.
    last_key: Option<Vec<KeyPart>>,
    /// The table is done with this chunk.
    done: bool,
}

impl ChunkRows {
    /// The chunk waiting for its high mark (`signal`: signal-table marks).
    fn pending(
        self,
        table: &TableId,
        key_columns: Vec<String>,
        low: Low,
        high: BinlogPosition,
        signal: Option<SignalMarks>,
    ) -> Pending {
        Pending {
            table: table.clone(),
            low,
            high,
            schema: self.schema,
            key_columns,
            rows: self.rows,
            key_idx: self.key_idx,
            bytes: self.bytes,
            changed: HashSet::new(),
            last_key: self.last_key,
            table_done: self.done,
            signal,
        }
    }
}

/// A spool file's I/O error while `table` is read.
pub(super) fn spool_error(table: &TableId, source: std::io::Error) -> SourceError {
    SourceError::Spool {
        table: table.to_string(),
        dir: spool_dir().display().to_string(),
        source,
    }
}

/// The bytes a column value takes as read (8 for a number or a date).
fn value_bytes(v: &MyValue) -> usize {
    match v {
        MyValue::Bytes(b) => b.len(),
        _ => 8,
    }
}

/// MariaDB: the binlog position of the open consistent-snapshot transaction.
async fn snapshot_position(conn: &mut Conn) -> Result<BinlogPosition, SourceError> {
    let rows: Vec<(String, String)> = conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await?;
    let get = |k: &str| {
        rows.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let (Some(file), Some(pos)) = (get("binlog_snapshot_file"), get("binlog_snapshot_position"))
    else {
        return Err(SourceError::NoBinlog {
            what: "binlog_snapshot_file/position",
        });
    };
    let pos: u64 = pos.parse().map_err(|source| SourceError::ServerStatus {
        name: "binlog_snapshot_position",
        value: pos.clone(),
        source,
    })?;
    Ok(BinlogPosition::new(file, pos))
}
