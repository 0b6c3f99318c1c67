//! The application state the tools share, and the toolbox that registers every tool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tool_runtime::audit::{AuditError, SqliteSink};
use tool_runtime::{AuditSink, BuildError, Session, Toolbox};

use crate::db::Db;
use crate::model::User;
use crate::tools::{account, customers, housekeeping, orders, records};

/// What every tool receives through `State<App>`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    data_dir: PathBuf,
}

impl App {
    /// The state over `db`, serving files from `data_dir`.
    pub fn new(db: Db, data_dir: &Path) -> App {
        App {
            inner: Arc::new(Inner {
                db,
                data_dir: data_dir.to_path_buf(),
            }),
        }
    }

    /// The desk's database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The folder `read_export` serves from.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }
}

/// Why the toolbox could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ToolboxError {
    #[error("cannot open the audit log in {path}: {source}")]
    Audit { path: PathBuf, source: AuditError },
    #[error("the tools do not fit together: {0}")]
    Build(#[from] BuildError),
}

/// Every tool of the desk over `db` and `data_dir`, auditing into `db`'s own `audit_log`
/// table: each record is durable before the reply goes out.
pub fn toolbox(db: &Db, data_dir: &Path) -> Result<Toolbox<App>, ToolboxError> {
    let sink = SqliteSink::open(db.path()).map_err(|source| ToolboxError::Audit {
        path: db.path().to_path_buf(),
        source,
    })?;
    toolbox_with_sink(App::new(db.clone(), data_dir), sink)
}

/// Every tool of the desk over `app`, auditing into `sink`.
pub fn toolbox_with_sink(app: App, sink: impl AuditSink) -> Result<Toolbox<App>, ToolboxError> {
    Ok(Toolbox::builder(app)
        .tool(account::GetMyProfile)
        .tool(account::GetMyOrders)
        .tool(orders::GetOrder)
        .tool(customers::SearchCustomers)
        .tool(customers::GetCustomerDetails)
        .tool(customers::UpdateCustomerEmail)
        .tool(customers::AddInternalNote)
        .tool(orders::UpdateOrderStatus)
        .tool(records::QueryRecords)
        .tool(orders::GetAllOrders)
        .tool(housekeeping::DeleteData)
        .tool(customers::DeleteCustomer)
        .audit(sink)
        .build()?)
}

/// The session of a logged-in user as the host knows them, or an anonymous one.
pub fn session(user: Option<&User>) -> Session {
    match user {
        Some(user) => Session::authenticated(user.id.clone(), user.role),
        None => Session::anonymous(),
    }
}
