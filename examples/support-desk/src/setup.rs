//! Getting a database and a data folder to work on: `init`, and the defaults every other
//! command falls back to.

use std::io;
use std::path::{Path, PathBuf};

use crate::data_dir;
use crate::db::{CreateError, Db, OpenError};
use crate::fixture::Fixture;

/// Where the database lives when `--db` is not given.
pub const DEFAULT_DB: &str = "support-desk.db";
/// Where the data folder lives when `--data-dir` is not given.
pub const DEFAULT_DATA_DIR: &str = "support-desk-data";

/// Why the database or the data folder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{path} already holds {file}; pass --force to overwrite the sample files")]
    DataDirTaken { path: PathBuf, file: &'static str },
    #[error("cannot write the data folder {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
}

impl SetupError {
    /// Whether the user asked for something refused on purpose (as opposed to a failure): the
    /// CLI exits with 2 for these, as for any other bad invocation.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            SetupError::Create(CreateError::Exists(_)) | SetupError::DataDirTaken { .. }
        )
    }
}

fn write_data_dir(path: &Path) -> Result<(), SetupError> {
    data_dir::create(path, &Fixture::generate()).map_err(|source| SetupError::DataDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates and seeds the database at `db` and the sample files under `data_dir`. Without
/// `force`, an existing database or sample file is an error, and in that case nothing at all
/// is written.
pub fn init(db: &Path, data_dir: &Path, force: bool) -> Result<Db, SetupError> {
    if !force {
        if db.exists() {
            return Err(CreateError::Exists(db.to_path_buf()).into());
        }
        if let Some(file) = data_dir::existing(data_dir).first() {
            return Err(SetupError::DataDirTaken {
                path: data_dir.to_path_buf(),
                file,
            });
        }
    }
    let opened = Db::create(db, force)?;
    write_data_dir(data_dir)?;
    Ok(opened)
}

/// Opens the database at `db`, creating and seeding it first if there is none, and likewise
/// the data folder.
pub fn ensure(db: &Path, data_dir: &Path) -> Result<Db, SetupError> {
    let opened = ensure_db(db)?;
    if !data_dir.exists() {
        write_data_dir(data_dir)?;
    }
    Ok(opened)
}

/// Opens the database at `db`, creating and seeding it first if there is none.
pub fn ensure_db(db: &Path) -> Result<Db, SetupError> {
    if db.exists() {
        return Ok(Db::open(db)?);
    }
    match Db::create(db, false) {
        Ok(created) => Ok(created),
        // Another process created it first: use theirs.
        Err(CreateError::Exists(_)) => Ok(Db::open(db)?),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let (db, data) = (dir.path().join("desk.db"), dir.path().join("data"));
        init(&db, &data, false).unwrap();
        let err = init(&db, &data, false).unwrap_err();
        assert!(err.is_refusal(), "{err}");

        // A fresh database but leftover sample files: still refused, and no database written.
        let other = dir.path().join("other.db");
        let err = init(&other, &data, false).unwrap_err();
        assert!(matches!(err, SetupError::DataDirTaken { .. }), "{err}");
        assert!(!other.exists());

        init(&db, &data, true).unwrap();
    }

    #[test]
    fn force_restores_the_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let (db, data) = (dir.path().join("desk.db"), dir.path().join("data"));
        let first = init(&db, &data, false).unwrap();
        first.delete_customer("C003").unwrap();
        std::fs::write(data.join("reports/notes.txt"), "scribbled").unwrap();
        let again = init(&db, &data, true).unwrap();
        assert_eq!(
            again.get_customer_details("C003", &["id"]).unwrap().id,
            "C003"
        );
        assert_ne!(
            std::fs::read_to_string(data.join("reports/notes.txt")).unwrap(),
            "scribbled"
        );
    }

    #[test]
    fn ensure_creates_what_is_missing_and_keeps_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let (db, data) = (dir.path().join("sub/desk.db"), dir.path().join("data"));
        let created = ensure(&db, &data).unwrap();
        assert_eq!(data_dir::existing(&data), data_dir::FILES);
        created.delete_customer("C050").unwrap();
        let reopened = ensure(&db, &data).unwrap();
        assert_eq!(
            reopened
                .get_customer_details("C050", &["id"])
                .unwrap_err()
                .code()
                .as_str(),
            "not_found"
        );
    }
}
