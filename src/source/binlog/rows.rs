//! The row images of a rows event, read straight into Sluice's values.
//!
//! The driver's row iterator (`RowsEventData::rows`) builds a `Column` for
//! every column of every row (database, table and column names copied,
//! flags, character set) and walks the table map's optional metadata again
//! for each row. On the binlog benchmark those allocations and frees were
//! the largest single cost of the source after compression. Here the table
//! map is read once per table ([`BinlogTable`]) and a row costs its values:
//! the null bitmap, then each column's value parsed by the driver's value
//! parser with the column's type, metadata and signedness.
//!
//! Only full row images are read (`binlog_row_image = FULL`, checked here as
//! before). MySQL's partial JSON updates (`PARTIAL_UPDATE_ROWS_EVENT`) keep the
//! driver's iterator, which reads their shared image.

use std::io;

use mysql_async::binlog::events::{RowsEventData, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_common::io::ParseBuf;

use super::table::BinlogTable;
use super::value::decode_value;
use crate::config::DbZone;
use crate::event::Value;
use crate::source::mysql_types::ValueError;

/// One row change: its before and after images, as the event carries them.
pub type Images = (Option<Vec<Value>>, Option<Vec<Value>>);

/// Why a rows event's images could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bytes do not parse as the table map says.
    #[error("{0}")]
    Parse(#[source] io::Error),
    /// A value that does not convert.
    #[error(transparent)]
    Value(ValueError),
}

/// Every row of `rows`, decoded with `table` (the table map `tme` announced).
pub fn read(
    table: &BinlogTable,
    rows: &RowsEventData<'_>,
    tme: &TableMapEvent<'_>,
    zone: DbZone,
) -> Result<Vec<Images>, ImageError> {
    if let RowsEventData::PartialUpdateRowsEvent(_) = rows {
        return read_with_driver(table, rows, tme, zone);
    }
    let columns = table.schema.columns.len();
    let image = |bits: Option<usize>| match bits {
        Some(n) if n != columns => Err(not_full(table, n)),
        other => Ok(other.is_some()),
    };
    let before = image(rows.columns_before_image().map(|b| b.count_ones()))?;
    let after = image(rows.columns_after_image().map(|b| b.count_ones()))?;
    if usize::try_from(rows.num_columns()).ok() != Some(columns) {
        return Err(not_full(
            table,
            usize::try_from(rows.num_columns()).unwrap_or(0),
        ));
    }
    let mut buf = ParseBuf(rows.rows_data());
    let mut out = Vec::new();
    while !buf.is_empty() {
        let b = before
            .then(|| read_image(table, &mut buf, zone))
            .transpose()?;
        let a = after
            .then(|| read_image(table, &mut buf, zone))
            .transpose()?;
        out.push((b, a));
    }
    Ok(out)
}

/// One full row image: the null bitmap, then each non-null column's value.
fn read_image<'a>(
    table: &'a BinlogTable,
    buf: &mut ParseBuf<'a>,
    zone: DbZone,
) -> Result<Vec<Value>, ImageError> {
    let columns = table.schema.columns.len();
    let nulls = buf
        .checked_eat(columns.div_ceil(8))
        .ok_or_else(|| truncated("null bitmap"))?;
    let mut row = Vec::with_capacity(columns);
    for (i, (col, how, wire)) in table.columns().enumerate() {
        let null = nulls.get(i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1);
        let v = if null {
            BinlogValue::Value(mysql_async::Value::NULL)
        } else {
            buf.parse::<BinlogValue<'_>>((wire.ty, wire.meta.as_slice(), wire.unsigned, false))
                .map_err(ImageError::Parse)?
                .into_owned()
        };
        row.push(decode_value(col, how, v, zone).map_err(ImageError::Value)?);
    }
    Ok(row)
}

/// The driver's iterator (partial JSON updates).
fn read_with_driver(
    table: &BinlogTable,
    rows: &RowsEventData<'_>,
    tme: &TableMapEvent<'_>,
    zone: DbZone,
) -> Result<Vec<Images>, ImageError> {
    let decode = |r: Option<mysql_async::binlog::row::BinlogRow>| {
        r.map(|r| table.decode_row(r.unwrap(), zone))
            .transpose()
            .map_err(ImageError::Value)
    };
    rows.rows(tme)
        .map(|row| {
            let (before, after) = row.map_err(ImageError::Parse)?;
            Ok((decode(before)?, decode(after)?))
        })
        .collect()
}

fn not_full(table: &BinlogTable, present: usize) -> ImageError {
    ImageError::Value(ValueError {
        column: table.id.to_string(),
        reason: format!(
            "row image has {present} of {} columns: set binlog_row_image = FULL on the server",
            table.schema.columns.len()
        ),
    })
}

fn truncated(what: &str) -> ImageError {
    ImageError::Parse(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("rows event ends inside a row's {what}"),
    ))
}
