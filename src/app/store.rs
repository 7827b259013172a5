//! Persistence of REST-created connectors: one JSON file,
//! `<state_dir>/connectors.json`, replaced atomically (write a temp file,
//! fsync, rename) and readable by the daemon's user only (mode 0600), since
//! it keeps the passwords the API never shows.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Default state directory when neither `state_dir` nor `$STATE_DIRECTORY` is set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sluice";

/// A persistence failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a connectors file.
    #[error("state file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// One stored connector: its Connect config (with secrets) and whether it
/// is paused or stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredConnector {
    /// The Connect config map as posted.
    pub config: Map<String, Value>,
    /// Paused over the API.
    #[serde(default)]
    pub paused: bool,
    /// Stopped over the API (wins over `paused`).
    #[serde(default)]
    pub stopped: bool,
}

impl StoredConnector {
    /// The state the connector is to be started in.
    pub fn target_state(&self) -> super::TargetState {
        if self.stopped {
            super::TargetState::Stopped
        } else if self.paused {
            super::TargetState::Paused
        } else {
            super::TargetState::Running
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    connectors: BTreeMap<String, StoredConnector>,
}

/// The connectors file of a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

/// The state directory: `state_dir` from the config, else the first entry of
/// systemd's `$STATE_DIRECTORY`, else [`DEFAULT_STATE_DIR`].
pub fn state_dir(configured: Option<&str>) -> PathBuf {
    if let Some(dir) = configured.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var("STATE_DIRECTORY")
        .ok()
        .and_then(|v| v.split(':').next().map(str::to_string))
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from)
}

impl Store {
    /// The store of `dir`.
    pub fn new(dir: &Path) -> Store {
        Store {
            path: dir.join("connectors.json"),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Every stored connector; none when the file does not exist yet.
    pub fn load(&self) -> Result<BTreeMap<String, StoredConnector>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.io(e)),
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|source| StoreError::Parse {
            path: self.path.display().to_string(),
            source,
        })?;
        Ok(file.connectors)
    }

    /// Replaces the file with `connectors`, atomically.
    pub fn save(&self, connectors: &BTreeMap<String, StoredConnector>) -> Result<(), StoreError> {
        let file = StateFile {
            version: 1,
            connectors: connectors.clone(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|source| StoreError::Parse {
            path: self.path.display().to_string(),
            source,
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent() {
            // Makes the rename durable; not every file system supports it.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("sluice-store-{}", std::process::id()));
        let store = Store::new(&dir);
        assert!(store.load().expect("empty").is_empty());
        let mut m = BTreeMap::new();
        let mut config = Map::new();
        config.insert("connection.password".into(), Value::String("pw".into()));
        m.insert(
            "c".to_string(),
            StoredConnector {
                config,
                paused: true,
                stopped: false,
            },
        );
        store.save(&m).expect("save");
        assert_eq!(store.load().expect("load"), m);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn configured_dir_wins() {
        assert_eq!(state_dir(Some("/x")), PathBuf::from("/x"));
    }
}
