//! Keeping row values out of error messages. Database servers quote the
//! offending value in some messages (MySQL's "Duplicate entry '…'",
//! PostgreSQL's `invalid input syntax …: "…"`, SQLite's `near "…"`); Sluice
//! prints those messages with the quoted span replaced by `[redacted]`, so an
//! error can be logged, exported and shown over REST without leaking data.
//! The driver-specific markers live with each driver's message function
//! (`mysql::message`, the sink's PostgreSQL and SQLite messages).

/// Replaces the text between each marker and the last `quote` of the message
/// run that follows it with `[redacted]` (messages do not escape inner quotes,
/// so the span extends to the quote before the next ` for `/end of message).
pub(crate) fn redact_after(msg: &str, markers: &[&str], quote: char) -> String {
    let mut out = msg.to_string();
    for marker in markers {
        let Some(start) = out.find(marker).map(|i| i + marker.len()) else {
            continue;
        };
        let rest = &out[start..];
        let region_end = [" for key", " for column", " for function", " at row"]
            .iter()
            .filter_map(|stop| rest.rfind(stop))
            .min()
            .unwrap_or(rest.len());
        if let Some(end) = rest[..region_end].rfind(quote) {
            out.replace_range(start..start + end, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_mysql_duplicate_entry_and_bad_values() {
        assert_eq!(
            redact_after(
                "Duplicate entry 'bob's@x' for key 'PRIMARY'",
                &["entry '", "value: '"],
                '\''
            ),
            "Duplicate entry '[redacted]' for key 'PRIMARY'"
        );
        assert_eq!(
            redact_after(
                "Incorrect integer value: 'abc' for column `db`.`t`.`n` at row 1",
                &["entry '", "value: '"],
                '\''
            ),
            "Incorrect integer value: '[redacted]' for column `db`.`t`.`n` at row 1"
        );
        assert_eq!(
            redact_after("Data too long for column 'c' at row 1", &["entry '"], '\''),
            "Data too long for column 'c' at row 1"
        );
    }

    #[test]
    fn redacts_postgres_input_syntax() {
        assert_eq!(
            redact_after(
                "invalid input syntax for type integer: \"12a\"",
                &[": \""],
                '"'
            ),
            "invalid input syntax for type integer: \"[redacted]\""
        );
    }
}
