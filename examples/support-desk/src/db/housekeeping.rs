//! `delete_data`: the admin's clean-up of data that has outlived its use.

use rusqlite::params;
use tool_runtime::ToolError;

use super::Db;
use super::access::{Columns, Grant};
use super::schema::Table;
use crate::model::{DataDeletion, DeleteScope};

static DELETE_EXPIRED_SESSIONS: Grant = Grant {
    read: &[
        (Table::Sessions, Columns::Only(&["expires_at"])),
        // SQLite's foreign key bookkeeping looks up the deleted sessions' users.
        (Table::Users, Columns::Only(&["id"])),
    ],
    insert: &[],
    update: &[],
    delete: &[Table::Sessions],
};

static DELETE_OLD_LOGS: Grant = Grant {
    read: &[(Table::Logs, Columns::Only(&["created_at"]))],
    insert: &[],
    update: &[],
    delete: &[Table::Logs],
};

static DELETE_TEMP_FILES: Grant = Grant {
    read: &[(Table::TempFiles, Columns::Only(&["created_at"]))],
    insert: &[],
    update: &[],
    delete: &[Table::TempFiles],
};

impl DeleteScope {
    /// The statement and the grant it runs under. Each scope deletes from one table only, and
    /// its connection can delete from no other.
    fn plan(self) -> (&'static str, &'static Grant) {
        match self {
            DeleteScope::ExpiredSessions => (
                "DELETE FROM sessions WHERE expires_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now')",
                &DELETE_EXPIRED_SESSIONS,
            ),
            DeleteScope::OldLogs => (
                "DELETE FROM logs
                 WHERE created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-90 days')",
                &DELETE_OLD_LOGS,
            ),
            DeleteScope::TempFiles => (
                "DELETE FROM temp_files
                 WHERE created_at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')",
                &DELETE_TEMP_FILES,
            ),
        }
    }
}

impl Db {
    /// Deletes what `scope` names and says how many rows went.
    pub fn delete_data(&self, scope: DeleteScope) -> Result<DataDeletion, ToolError> {
        let (sql, grant) = scope.plan();
        let conn = self.writer(grant)?;
        let rows = conn.execute(sql, params![])?;
        Ok(DataDeletion {
            scope,
            rows_deleted: rows as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::access::{is_refused, open_write};
    use crate::db::testing::seeded;
    use crate::fixture;

    fn count(db: &Db, table: &str) -> u64 {
        let n: i64 = rusqlite::Connection::open(db.path())
            .unwrap()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        n.unsigned_abs()
    }

    #[test]
    fn each_scope_deletes_only_its_old_rows() {
        let (_dir, db) = seeded();
        let cases = [
            (
                DeleteScope::ExpiredSessions,
                "sessions",
                fixture::EXPIRED_SESSIONS,
                fixture::SESSIONS,
            ),
            (
                DeleteScope::OldLogs,
                "logs",
                fixture::OLD_LOGS,
                fixture::LOGS,
            ),
            (
                DeleteScope::TempFiles,
                "temp_files",
                fixture::STALE_TEMP_FILES,
                fixture::TEMP_FILES,
            ),
        ];
        for (scope, table, old, all) in cases {
            assert_eq!(count(&db, table), all);
            let deleted = db.delete_data(scope).unwrap();
            assert_eq!(
                deleted,
                DataDeletion {
                    scope,
                    rows_deleted: old
                }
            );
            assert_eq!(count(&db, table), all - old, "{table}");
            // A second run finds nothing left to delete.
            assert_eq!(db.delete_data(scope).unwrap().rows_deleted, 0);
        }
        assert_eq!(count(&db, "customers"), 50);
        assert_eq!(count(&db, "orders"), 100);
    }

    #[test]
    fn a_scope_cannot_reach_another_table() {
        let (_dir, db) = seeded();
        for scope in DeleteScope::ALL {
            let (_, grant) = scope.plan();
            let conn = open_write(db.path(), grant).unwrap();
            for sql in [
                "DELETE FROM customers",
                "DELETE FROM orders",
                "DELETE FROM users",
                "SELECT message FROM logs",
                "SELECT id FROM sessions",
            ] {
                let err = conn.execute_batch(sql).unwrap_err();
                assert!(is_refused(&err), "{scope}: {sql}: {err}");
            }
        }
    }
}
