//! The application state the tools share, and the toolbox that registers every tool.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

use tool_runtime::audit::{AuditError, SqliteSink};
use tool_runtime::{ApprovalStore, AuditSink, BuildError, Limits, RateLimiter, Session, Toolbox};

use crate::db::Db;
use crate::model::User;
use crate::tools::{account, code, customers, exports, housekeeping, orders, records};

/// What every tool receives through `State<App>`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    data_dir: Dir,
}

impl App {
    /// The state over `db`, serving files from the folder `data_dir`.
    pub fn new(db: Db, data_dir: Dir) -> App {
        App {
            inner: Arc::new(Inner { db, data_dir }),
        }
    }

    /// The state over `db`, serving files from the folder at `data_dir`.
    pub fn open(db: Db, data_dir: &Path) -> io::Result<App> {
        let dir = Dir::open_ambient_dir(data_dir, cap_std::ambient_authority())?;
        Ok(App::new(db, dir))
    }

    /// The desk's database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The folder `read_export` serves from: a handle, so that files are opened beneath it
    /// and never by a path the model could bend.
    pub fn data_dir(&self) -> &Dir {
        &self.inner.data_dir
    }
}

/// Why the toolbox could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ToolboxError {
    #[error("cannot open the audit log in {path}: {source}")]
    Audit { path: PathBuf, source: AuditError },
    #[error("cannot open the data folder {path}: {source}")]
    DataDir { path: PathBuf, source: io::Error },
    #[error("the tools do not fit together: {0}")]
    Build(#[from] BuildError),
}

/// Every tool of the desk over `db` and `data_dir`, auditing into `db`'s own `audit_log`
/// table: each record is durable before the reply goes out.
pub fn toolbox(db: &Db, data_dir: &Path) -> Result<Toolbox<App>, ToolboxError> {
    toolbox_sharing(db, data_dir, None)
}

/// [`toolbox`], with rate limits and approvals in `shared` when several instances serve the
/// same users.
pub fn toolbox_sharing(
    db: &Db,
    data_dir: &Path,
    shared: Option<Shared>,
) -> Result<Toolbox<App>, ToolboxError> {
    let sink = SqliteSink::open(db.path()).map_err(|source| ToolboxError::Audit {
        path: db.path().to_path_buf(),
        source,
    })?;
    toolbox_with_stores(open(db, data_dir)?, sink, shared)
}

/// The tools' state over `db` and `data_dir`.
pub fn open(db: &Db, data_dir: &Path) -> Result<App, ToolboxError> {
    App::open(db.clone(), data_dir).map_err(|source| ToolboxError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })
}

/// The largest reply: `read_export` returns files of up to 1 MB, and JSON escaping (of quotes
/// and line breaks, mostly) makes their text somewhat longer.
pub const MAX_OUTPUT_BYTES: usize = 2 * 1024 * 1024;

/// Every tool of the desk over `app`, auditing into `sink`, with rate limits and approvals
/// kept in this process.
pub fn toolbox_with_sink(app: App, sink: impl AuditSink) -> Result<Toolbox<App>, ToolboxError> {
    toolbox_with_stores(app, sink, None)
}

/// Rate limits and pending approvals shared by every instance of the desk (in Redis).
pub struct Shared {
    pub limiter: Arc<dyn RateLimiter>,
    pub approvals: Arc<dyn ApprovalStore>,
}

/// Every tool of the desk over `app`, auditing into `sink`, with rate limits and approvals in
/// `shared` when several instances serve the same users, else in this process.
pub fn toolbox_with_stores(
    app: App,
    sink: impl AuditSink,
    shared: Option<Shared>,
) -> Result<Toolbox<App>, ToolboxError> {
    let limits = Limits {
        max_output_bytes: MAX_OUTPUT_BYTES,
        ..Limits::default()
    };
    let builder = Toolbox::builder(app)
        .limits(limits)
        .tool(account::GetMyProfile)
        .tool(account::GetMyOrders)
        .tool(orders::GetOrder)
        .tool(customers::SearchCustomers)
        .tool(customers::GetCustomerDetails)
        .tool(customers::UpdateCustomerEmail)
        .tool(customers::AddInternalNote)
        .tool(orders::UpdateOrderStatus)
        .tool(records::QueryRecords)
        .tool(exports::ReadExport)
        .tool(orders::GetAllOrders)
        .tool(housekeeping::DeleteData)
        .tool(customers::DeleteCustomer)
        .tool(code::ExecuteCode)
        .audit(sink);
    let builder = match shared {
        Some(shared) => builder
            .rate_limiter(shared.limiter)
            .approvals(shared.approvals),
        None => builder,
    };
    Ok(builder.build()?)
}

/// The session of a logged-in user as the host knows them, or an anonymous one.
pub fn session(user: Option<&User>) -> Session {
    match user {
        Some(user) => Session::authenticated(user.id.clone(), user.role),
        None => Session::anonymous(),
    }
}
