//! A `[[source]]`'s Debezium keys, checked and resolved (the parsing is in
//! [`super::debezium`]).

use super::debezium::{self, ColumnMapper, Patterns, SkippedOps};
use super::{ConfigError, DecimalHandling, Envelope, SourceConfig, SourceKind, TimePrecision};

impl SourceConfig {
    fn bad(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            pipeline: self.name.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// How DECIMAL columns are written: `decimal.handling.mode`, else
    /// `decimal_handling`, else `precise`.
    pub fn decimals(&self) -> DecimalHandling {
        self.decimal_mode()
            .ok()
            .flatten()
            .or(self.decimal_handling)
            .unwrap_or_default()
    }

    /// How TIME/DATETIME/TIMESTAMP columns are written: `time.precision.mode`,
    /// else `time_precision`, else for a binlog source
    /// `adaptive_time_microseconds` (lossless, Debezium MySQL's default) and
    /// for a poll source `connect` (the JDBC source connector's types).
    pub fn times(&self) -> TimePrecision {
        let default = match self.resolved_kind() {
            Ok(SourceKind::Poll) => TimePrecision::Connect,
            _ => TimePrecision::default(),
        };
        self.time_mode()
            .ok()
            .flatten()
            .or(self.time_precision)
            .unwrap_or(default)
    }

    fn decimal_mode(&self) -> Result<Option<DecimalHandling>, ConfigError> {
        let Some(v) = &self.decimal_handling_mode else {
            return Ok(None);
        };
        Ok(Some(match v.trim() {
            "precise" => DecimalHandling::Precise,
            "string" => DecimalHandling::String,
            "double" => DecimalHandling::Double,
            other => {
                return Err(self.bad(
                    "decimal.handling.mode",
                    format!("`{other}` is not precise, string or double"),
                ))
            }
        }))
    }

    fn time_mode(&self) -> Result<Option<TimePrecision>, ConfigError> {
        let Some(v) = &self.time_precision_mode else {
            return Ok(None);
        };
        Ok(Some(match v.trim() {
            "adaptive_time_microseconds" => TimePrecision::AdaptiveTimeMicroseconds,
            "adaptive" => TimePrecision::Adaptive,
            "connect" => TimePrecision::Connect,
            "microseconds" => TimePrecision::Micros,
            "nanoseconds" => TimePrecision::Nanos,
            other => {
                return Err(self.bad(
                    "time.precision.mode",
                    format!("`{other}` is not a mode (adaptive_time_microseconds, adaptive, connect, microseconds, nanoseconds)"),
                ))
            }
        }))
    }

    /// The captured databases' regexes: (include, exclude).
    pub fn database_patterns(&self) -> Result<(Patterns, Patterns), ConfigError> {
        let p = |key: &str, list: &[String]| Patterns::parse(list).map_err(|r| self.bad(key, r));
        Ok((
            p("database.include.list", &self.databases)?,
            p("database.exclude.list", &self.database_exclude)?,
        ))
    }

    /// The captured tables' regexes (`<db>.<table>`): (include, exclude).
    pub fn table_patterns(&self) -> Result<(Patterns, Patterns), ConfigError> {
        let p = |key: &str, list: &[String]| Patterns::parse(list).map_err(|r| self.bad(key, r));
        Ok((
            p("table.include.list", &self.tables)?,
            p("table.exclude.list", &self.table_exclude)?,
        ))
    }

    /// The published columns' regexes (`<db>.<table>.<column>`): (include, exclude).
    pub fn column_patterns(&self) -> Result<(Patterns, Patterns), ConfigError> {
        let p = |key: &str, list: &[String]| Patterns::parse(list).map_err(|r| self.bad(key, r));
        Ok((
            p("column.include.list", &self.columns)?,
            p("column.exclude.list", &self.column_exclude)?,
        ))
    }

    /// The column mappers (masks, hashes, truncation).
    pub fn column_mappers(&self) -> Result<Vec<ColumnMapper>, ConfigError> {
        debezium::column_mappers(&self.column_rules).map_err(|(k, r)| self.bad(&k, r))
    }

    /// `message.key.columns` as patterns over `<db>.<table>.<column>`.
    pub fn key_column_patterns(&self) -> Result<Option<Patterns>, ConfigError> {
        self.message_key_columns
            .as_deref()
            .map(|t| debezium::parse_key_columns(t).map_err(|r| self.bad("message.key.columns", r)))
            .transpose()
    }

    /// The operations not published.
    pub fn skipped_ops(&self) -> Result<SkippedOps, ConfigError> {
        match &self.skipped_operations {
            None => Ok(SkippedOps::default()),
            Some(list) => {
                debezium::parse_skipped(list).map_err(|r| self.bad("skipped.operations", r))
            }
        }
    }

    /// Checks the Debezium keys (pure): values Sluice cannot honour are
    /// refused by key and value, never ignored.
    pub(super) fn check_debezium_keys(&self, kind: SourceKind) -> Result<(), ConfigError> {
        let decimal = self.decimal_mode()?;
        if let (Some(d), Some(h)) = (decimal, self.decimal_handling) {
            if d != h {
                return Err(self.bad(
                    "decimal.handling.mode",
                    "contradicts decimal_handling; set one of them",
                ));
            }
        }
        let time = self.time_mode()?;
        if let (Some(t), Some(p)) = (time, self.time_precision) {
            if t != p {
                return Err(self.bad(
                    "time.precision.mode",
                    "contradicts time_precision; set one of them",
                ));
            }
        }
        match self.bigint_unsigned_handling_mode.as_deref().map(str::trim) {
            None | Some("precise") => {}
            Some("long") => return Err(self.bad(
                "bigint.unsigned.handling.mode",
                "`long` wraps values above 2^63 to negatives; Sluice writes BIGINT UNSIGNED losslessly as a scale-0 Decimal (`precise`) only",
            )),
            Some(other) => {
                return Err(self.bad(
                    "bigint.unsigned.handling.mode",
                    format!("`{other}` is not a mode (precise)"),
                ))
            }
        }
        if self.enable_time_adjuster == Some(true) {
            return Err(self.bad(
                "enable.time.adjuster",
                "`true` rewrites two-digit years (YEAR 0000 becomes 2000), which loses the stored value; Sluice writes years as stored, which is Debezium's `false`",
            ));
        }
        if kind == SourceKind::Poll {
            let binlog_only = [
                ("database.exclude.list", !self.database_exclude.is_empty()),
                ("column.include.list", !self.columns.is_empty()),
                ("column.exclude.list", !self.column_exclude.is_empty()),
                ("message.key.columns", self.message_key_columns.is_some()),
                ("skipped.operations", self.skipped_operations.is_some()),
                ("tombstones.on.delete", !self.tombstones_on_delete),
            ];
            if let Some((key, _)) = binlog_only.iter().find(|(_, set)| *set) {
                return Err(self.bad(key, "is a binlog-source setting"));
            }
            if let Some(key) = self.column_rules.keys().next() {
                return Err(self.bad(key, "is a binlog-source setting"));
            }
            return Ok(());
        }
        let both = [
            (
                "database.exclude.list",
                "database.include.list",
                !self.databases.is_empty() && !self.database_exclude.is_empty(),
            ),
            (
                "table.exclude.list",
                "table.include.list",
                !self.tables.is_empty() && !self.table_exclude.is_empty(),
            ),
            (
                "column.exclude.list",
                "column.include.list",
                !self.columns.is_empty() && !self.column_exclude.is_empty(),
            ),
        ];
        if let Some((exclude, include, _)) = both.iter().find(|(_, _, b)| *b) {
            return Err(self.bad(
                exclude,
                format!("cannot be set together with {include} (as in Debezium): keep one of them"),
            ));
        }
        self.database_patterns()?;
        self.table_patterns()?;
        self.column_patterns()?;
        self.column_mappers()?;
        self.key_column_patterns()?;
        self.skipped_ops()?;
        if !self.tombstones_on_delete && self.envelope == Envelope::Flat {
            return Err(self.bad(
                "tombstones.on.delete",
                "the flat envelope writes a delete as its tombstone; false needs envelope = \"debezium\"",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> Result<SourceConfig, String> {
        let text = format!(
            "[[source]]\nname = \"s\"\nkind = \"binlog\"\nurl = \"mysql://h/db\"\n{extra}\n"
        );
        let cfg = super::super::Config::from_toml_str(&text).map_err(|e| e.to_string())?;
        let s = cfg.source.into_iter().next().ok_or("no source")?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    fn refused(extra: &str) -> String {
        match source(extra) {
            Ok(_) => panic!("accepted: {extra}"),
            Err(e) => e,
        }
    }

    #[test]
    fn mode_keys_map_to_settings() {
        let s = source("\"decimal.handling.mode\" = \"string\"\n\"time.precision.mode\" = \"connect\"\n\"bigint.unsigned.handling.mode\" = \"precise\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.decimals(), DecimalHandling::String);
        assert_eq!(s.times(), TimePrecision::Connect);
        let d = source("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.decimals(), DecimalHandling::Precise);
        assert_eq!(d.times(), TimePrecision::AdaptiveTimeMicroseconds);
        let a = source("\"time.precision.mode\" = \"adaptive\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.times(), TimePrecision::Adaptive);
        let m = source("time_precision = \"micros\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.times(), TimePrecision::Micros);
        let n =
            source("\"time.precision.mode\" = \"nanoseconds\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.times(), TimePrecision::Nanos);
        let n = source("time_precision = \"nanos\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.times(), TimePrecision::Nanos);
        // A poll source keeps the JDBC source connector's Connect types.
        let text =
            "[[source]]\nname = \"p\"\nkind = \"poll\"\nurl = \"mysql://h/db\"\nmode = \"bulk\"\n";
        let cfg = super::super::Config::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.source[0].times(), TimePrecision::Connect);
        let e = refused("\"time.precision.mode\" = \"isostring\"");
        assert!(
            e.contains("time.precision.mode") && e.contains("isostring"),
            "{e}"
        );
        let e = refused("\"bigint.unsigned.handling.mode\" = \"long\"");
        assert!(
            e.contains("bigint.unsigned.handling.mode") && e.contains("long"),
            "{e}"
        );
        let e = refused("\"decimal.handling.mode\" = \"exact\"");
        assert!(
            e.contains("decimal.handling.mode") && e.contains("exact"),
            "{e}"
        );
        let e = refused("\"decimal.handling.mode\" = \"string\"\ndecimal_handling = \"double\"");
        assert!(e.contains("contradicts"), "{e}");
        let on = source("\"include.schema.changes\" = \"true\"").unwrap_or_else(|e| panic!("{e}"));
        assert!(on.schema_changes());
        let off = source("\"include.schema.changes\" = false\nenvelope = \"debezium\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!off.schema_changes());
        let dbz = source("envelope = \"debezium\"").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            dbz.schema_changes(),
            "Debezium's default under its envelope"
        );
        let flat = source("").unwrap_or_else(|e| panic!("{e}"));
        assert!(!flat.schema_changes());
        let e = refused("\"enable.time.adjuster\" = true");
        assert!(e.contains("enable.time.adjuster"), "{e}");
        assert!(source("\"enable.time.adjuster\" = false").is_ok());
    }

    #[test]
    fn include_and_exclude_together_are_refused() {
        for (a, b) in [
            ("database.include.list", "database.exclude.list"),
            ("table.include.list", "table.exclude.list"),
            ("column.include.list", "column.exclude.list"),
        ] {
            let e = refused(&format!("\"{a}\" = \"x\"\n\"{b}\" = \"y\""));
            assert!(e.contains(b) && e.contains(a), "{e}");
        }
        let e = refused("\"table.include.list\" = \"db.(\"");
        assert!(
            e.contains("table.include.list") && e.contains("regular expression"),
            "{e}"
        );
    }

    #[test]
    fn column_rules_and_keys_are_checked_by_name() {
        let s = source("\"column.mask.with.4.chars\" = \"db.t.a\"\n\"column.mask.hash.SHA-256.with.salt.x\" = \"db.t.b\"\n\"message.key.columns\" = \"db.t:a\"\n\"skipped.operations\" = \"d,t\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.column_mappers().map(|m| m.len()).ok(), Some(2));
        assert!(s.skipped_ops().is_ok_and(|o| o.delete && !o.create));
        let e = refused("\"column.mask.with.zero.chars\" = \"db.t.a\"");
        assert!(e.contains("column.mask.with.zero.chars"), "{e}");
        let e = refused("\"column.mask.hash.SHA3-512.with.salt.x\" = \"db.t.a\"");
        assert!(e.contains("SHA3-512"), "{e}");
        let e = refused("\"message.key.columns\" = \"db.t\"");
        assert!(e.contains("message.key.columns"), "{e}");
        let e = refused("\"skipped.operations\" = \"none\"");
        assert!(e.contains("skipped.operations"), "{e}");
        let e = refused("\"tombstones.on.delete\" = \"false\"");
        assert!(
            e.contains("tombstones.on.delete") && e.contains("debezium"),
            "{e}"
        );
        assert!(source("\"tombstones.on.delete\" = \"false\"\nenvelope = \"debezium\"").is_ok());
        // An unknown dotted key is still refused by name.
        let e = refused("\"column.propagate.source.type\" = \"db.t.a\"");
        assert!(e.contains("column.propagate.source.type"), "{e}");
    }

    #[test]
    fn poll_sources_refuse_binlog_keys() {
        let text = "[[source]]\nname = \"p\"\nkind = \"poll\"\nurl = \"mysql://h/db\"\nmode = \"bulk\"\n\"column.mask.with.3.chars\" = \"db.t.a\"\n";
        let cfg = super::super::Config::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
        let e = cfg.source[0]
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("column.mask.with.3.chars") && e.contains("binlog"),
            "{e}"
        );
    }
}
