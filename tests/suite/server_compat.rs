//! Statements that differ between MariaDB and MySQL 8.4+/9.x.

use sluice::mysql;

use crate::both_flavors;
use crate::support::*;

both_flavors!(binlog_status_reads_either_statement);

/// `SHOW BINARY LOG STATUS` on MySQL (where `SHOW MASTER STATUS` is gone), the
/// fallback to `SHOW MASTER STATUS` on MariaDB (where the new one is a syntax error).
async fn binlog_status_reads_either_statement(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blstatus").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY)").await;
    let mut conn = db.pool.get_conn().await.expect("conn");
    let before = mysql::binlog_status(&mut conn)
        .await
        .expect("binlog status")
        .expect("log_bin is on");
    db.exec("INSERT INTO t VALUES (1)").await;
    let after = mysql::binlog_status(&mut conn)
        .await
        .expect("binlog status")
        .expect("log_bin is on");
    assert!(!after.file.is_empty());
    assert!(
        (after.file.as_str(), after.position) > (before.file.as_str(), before.position),
        "{flavor:?}: {before:?} -> {after:?}"
    );
    match flavor {
        MySqlFlavor::MySql => {
            let gtids = after
                .executed_gtid_set
                .expect("MySQL reports Executed_Gtid_Set");
            assert!(gtids.contains(':'), "{gtids}");
        }
        MySqlFlavor::MariaDb => assert_eq!(after.executed_gtid_set, None),
    }
}
