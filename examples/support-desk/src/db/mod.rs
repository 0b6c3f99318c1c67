//! The desk's data on SQLite: one function per tool, each on a connection fit for it.
//!
//! [`Db`] holds only the database's path. Each operation opens its own connection with its own
//! `access::Grant`, so the privileges of one tool never leak into another, and the type is
//! trivially `Send + Sync` for the toolbox to share.

mod access;
mod customers;
mod housekeeping;
mod orders;
mod records;
mod schema;
mod users;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};
use tool_runtime::ToolError;

pub use customers::SEARCH_CAP;
pub use records::{Column, RecordTable, Records, Row};
pub use schema::SCHEMA_VERSION;

/// The most rows one call may ask for: what a model can usefully read in one reply.
pub const MAX_LIMIT: u32 = 100;
/// The rows a call gets when it does not say.
pub const DEFAULT_LIMIT: u32 = 25;

/// `limit` if it is in range, else the error the model can act on.
fn checked_limit(limit: Option<u32>) -> Result<u32, ToolError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(ToolError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no database at {0}; run `support-desk init` first")]
    Missing(PathBuf),
    #[error("{0} is not a support-desk database (schema version {1}, expected {SCHEMA_VERSION})")]
    WrongSchema(PathBuf, i32),
    #[error("cannot open {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Why a database could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    #[error("cannot write the database: {0}")]
    Io(#[from] io::Error),
    #[error("cannot seed the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The desk's database.
#[derive(Clone, Debug)]
pub struct Db {
    path: PathBuf,
    readers: Arc<Readers>,
}

/// Read connections kept for reuse, each still narrowed to the grant it was opened with: a
/// connection costs reading the schema again, which is more than most queries.
#[derive(Default)]
struct Readers {
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    grant: &'static access::Grant,
    /// The file the connection has open: a database replaced since (`init --force` renames a
    /// new file into place) is not the one at the path any more.
    file: (u64, u64),
    conn: Connection,
}

/// The device and inode of the file at `path` now.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Idle read connections kept at most; beyond, a returned one is closed.
const MAX_IDLE_READERS: usize = 16;

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("Readers").field("idle", &idle).finish()
    }
}

/// A read connection for one operation; back to the pool when dropped.
struct Reader<'a> {
    readers: &'a Readers,
    grant: &'static access::Grant,
    file: Option<(u64, u64)>,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let (Some(conn), Some(file), Ok(mut idle)) =
            (self.conn.take(), self.file, self.readers.idle.lock())
        else {
            return;
        };
        if idle.len() < MAX_IDLE_READERS {
            idle.push(Idle {
                grant: self.grant,
                file,
                conn,
            });
        }
    }
}

impl Db {
    /// Opens an existing support-desk database, checking that it is one.
    pub fn open(path: impl Into<PathBuf>) -> Result<Db, OpenError> {
        let path = path.into();
        if !path.is_file() {
            return Err(OpenError::Missing(path));
        }
        let version = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|conn| conn.pragma_query_value(None, "user_version", |row| row.get(0)));
        match version {
            Ok(SCHEMA_VERSION) => Ok(Db {
                path,
                readers: Arc::default(),
            }),
            Ok(other) => Err(OpenError::WrongSchema(path, other)),
            // A file that is not SQLite at all fails here, with "file is not a database".
            Err(source) => Err(OpenError::Sqlite { path, source }),
        }
    }

    /// Creates the schema and the fixture at `path`. The database is built in a temporary file
    /// beside it and moved into place in one step, so a crash never leaves a half-seeded
    /// database behind, and without `replace` an existing file is never touched, even by a
    /// concurrent creator.
    pub fn create(path: &Path, replace: bool) -> Result<Db, CreateError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        if !replace && path.exists() {
            return Err(CreateError::Exists(path.to_path_buf()));
        }
        let staged = tempfile::Builder::new()
            .prefix(".support-desk-")
            .suffix(".db.tmp")
            .tempfile_in(dir)?;
        {
            let mut conn = Connection::open(staged.path())?;
            let tx = conn.transaction()?;
            schema::create(&tx)?;
            crate::fixture::seed(&tx)?;
            tx.commit()?;
        }
        if replace {
            // A journal left by the old file would be "rolled back" into the new one.
            for suffix in ["-journal", "-wal", "-shm"] {
                let mut side = path.as_os_str().to_owned();
                side.push(suffix);
                match std::fs::remove_file(PathBuf::from(side)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            staged.persist(path).map_err(|e| e.error)?;
        } else {
            staged.persist_noclobber(path).map_err(|e| {
                if e.error.kind() == io::ErrorKind::AlreadyExists {
                    CreateError::Exists(path.to_path_buf())
                } else {
                    CreateError::Io(e.error)
                }
            })?;
        }
        Ok(Db {
            path: path.to_path_buf(),
            readers: Arc::default(),
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read connection narrowed to `grant`: one opened earlier for the same grant, or a new
    /// one. Grants are statics, so the same grant is the same address.
    fn reader(&self, grant: &'static access::Grant) -> Result<Reader<'_>, ToolError> {
        // Taken before opening, so that a connection is never older than the file it checks.
        let file = file_id(&self.path);
        let reused = self.readers.idle.lock().ok().and_then(|mut idle| {
            idle.retain(|i| Some(i.file) == file);
            let at = idle.iter().position(|i| std::ptr::eq(i.grant, grant))?;
            Some(idle.swap_remove(at).conn)
        });
        let conn = match reused {
            Some(conn) => conn,
            None => access::open_read(&self.path, grant).map_err(ToolError::internal)?,
        };
        Ok(Reader {
            readers: &self.readers,
            grant,
            file,
            conn: Some(conn),
        })
    }

    fn writer(&self, grant: &'static access::Grant) -> Result<Connection, ToolError> {
        access::open_write(&self.path, grant).map_err(ToolError::internal)
    }
}

/// A fresh seeded database in a temporary folder, for the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn seeded() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(&dir.path().join("desk.db"), false).unwrap();
        (dir, db)
    }

    /// A `ToolError`'s code and message: what the model would see.
    pub fn shown(err: &ToolError) -> (&'static str, String) {
        (err.code().as_str(), err.message().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::seeded;
    use super::*;

    static USERS_ONLY: access::Grant =
        access::Grant::read_only(&[(schema::Table::Users, access::Columns::All)]);
    static CUSTOMERS_ONLY: access::Grant =
        access::Grant::read_only(&[(schema::Table::Customers, access::Columns::All)]);

    fn count(conn: &Connection, table: &str) -> rusqlite::Result<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
    }

    #[test]
    fn a_reused_read_connection_keeps_its_own_grant_and_file() {
        let (_dir, db) = seeded();
        for _ in 0..3 {
            let users = db.reader(&USERS_ONLY).unwrap();
            assert!(count(&users, "users").is_ok());
            assert!(count(&users, "customers").is_err(), "another grant's table");
            drop(users);
            let customers = db.reader(&CUSTOMERS_ONLY).unwrap();
            assert!(count(&customers, "customers").is_ok());
            assert!(count(&customers, "users").is_err(), "another grant's table");
        }
        assert_eq!(
            db.readers.idle.lock().unwrap().len(),
            2,
            "one kept per grant"
        );
        // A new file at the path: the kept connections, open on the old one, are not used.
        let name = |db: &Db| -> String {
            db.reader(&USERS_ONLY)
                .unwrap()
                .query_row("SELECT name FROM users WHERE id = 'alice'", [], |row| {
                    row.get(0)
                })
                .unwrap()
        };
        assert_ne!(name(&db), "Renamed");
        Db::create(db.path(), true).unwrap();
        Connection::open(db.path())
            .unwrap()
            .execute("UPDATE users SET name = 'Renamed' WHERE id = 'alice'", [])
            .unwrap();
        assert_eq!(name(&db), "Renamed");
    }

    #[test]
    fn create_refuses_an_existing_file_unless_replacing() {
        let (dir, db) = seeded();
        let err = Db::create(db.path(), false).unwrap_err();
        assert!(matches!(err, CreateError::Exists(_)), "{err:?}");
        Db::create(db.path(), true).unwrap();
        Db::open(db.path()).unwrap();
        // Nothing staged is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["desk.db"]);
    }

    /// Every row of the fixture tables, as text, in id order.
    fn dump(db: &Db) -> Vec<String> {
        let conn = Connection::open(db.path()).unwrap();
        let mut rows = Vec::new();
        for table in ["users", "customers", "orders", "products", "notes"] {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
                .unwrap();
            let width = stmt.column_count();
            let mut query = stmt.query([]).unwrap();
            while let Some(row) = query.next().unwrap() {
                let cells: Vec<String> = (0..width)
                    .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                    .collect();
                rows.push(format!("{table}: {}", cells.join(" | ")));
            }
        }
        rows
    }

    #[test]
    fn every_database_is_seeded_the_same() {
        let (_a, first) = seeded();
        let (_b, second) = seeded();
        let rows = dump(&first);
        assert_eq!(rows.len(), 5 + 50 + 100 + 20 + 6);
        assert_eq!(rows, dump(&second));
    }

    #[test]
    fn open_refuses_missing_and_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.db");
        assert!(matches!(Db::open(&missing), Err(OpenError::Missing(_))));

        let text = dir.path().join("text.db");
        std::fs::write(&text, "hello, this is not SQLite at all, just some text...").unwrap();
        assert!(matches!(Db::open(&text), Err(OpenError::Sqlite { .. })));

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        assert!(matches!(
            Db::open(&other),
            Err(OpenError::WrongSchema(_, 0))
        ));
    }
}
