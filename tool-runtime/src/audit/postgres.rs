//! The PostgreSQL audit sink: one log for every instance of an application.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::NoTls;

use super::group_commit::{self, Batches, Queue, Waiting};
use super::row::Row;
use super::{AuditError, AuditRecord, AuditSink, StoreFuture};
use crate::store::StoreUnreachable;

/// The migrations, in order: the version a database is at is the number applied. Never edit
/// one that has shipped; add the next.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE {schema}audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          timestamptz NOT NULL,
    \"user\"    text,
    role        text,
    tool        text        NOT NULL,
    outcome     text        NOT NULL,
    arguments   json        NOT NULL,
    duration_ms bigint      NOT NULL,
    incident    text,
    cause       text,
    detail      json,
    record      text        NOT NULL
);
CREATE INDEX audit_log_ts ON {schema}audit_log (ts);
CREATE INDEX audit_log_incident ON {schema}audit_log (incident) WHERE incident IS NOT NULL;",
    // The other columns hold all of a record: keeping it whole as well doubled each row.
    "ALTER TABLE {schema}audit_log DROP COLUMN record;",
];

/// Every instance runs the migrations at start; this lock makes them take turns.
const MIGRATION_LOCK: i64 = 0x746f_6f6c_5f61_7564; // "tool_aud"

/// One statement for a whole batch, rows in the batch's order.
const INSERT: &str = "INSERT INTO {schema}audit_log
    (ts, \"user\", role, tool, outcome, arguments, duration_ms, incident, cause, detail)
    SELECT ts::timestamptz, u, r, tl, o, a::json, d, i, c, dt::json
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::int8[], $8::text[], $9::text[], $10::text[])
         WITH ORDINALITY AS x(ts, u, r, tl, o, a, d, i, c, dt, n)
    ORDER BY n";

/// How to reach PostgreSQL and how long to wait for it.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// The schema holding `audit_log`, created if missing; `None` for the connection's
    /// `search_path` (usually `public`). Lowercase letters, digits and `_`.
    pub schema: Option<String>,
    /// The most a new connection waits. Default 2 s.
    pub connect_timeout: Duration,
    /// The most one batch's transaction waits for its commit. Default 2 s.
    pub command_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: None,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        }
    }
}

impl PostgresOptions {
    /// `{schema}.` to put before a table's name, or nothing.
    fn qualifier(&self) -> Result<String, AuditError> {
        match &self.schema {
            None => Ok(String::new()),
            Some(schema)
                if !schema.is_empty()
                    && schema.len() <= 63
                    && !schema.starts_with(|c: char| c.is_ascii_digit())
                    && schema
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Ok(format!("\"{schema}\"."))
            }
            Some(schema) => Err(AuditError::other(format!(
                "`{schema}` is not a schema name: use lowercase letters, digits and _"
            ))),
        }
    }

    /// A pool whose every wait is bounded.
    fn pool(&self, url: &str) -> Result<Pool, AuditError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
            // The URL may carry a password: the error does not repeat it.
            AuditError::other("the audit database URL is not a PostgreSQL URL (postgres://...)")
        })?;
        config.connect_timeout(self.connect_timeout);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager)
            .max_size(4)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .recycle_timeout(Some(self.connect_timeout))
            .build()
            .map_err(AuditError::other)
    }
}

/// Writes each record as one row of the table `audit_log` in a PostgreSQL database, shared by
/// every instance of an application.
///
/// At start it runs its migrations (versioned in `tool_runtime_migrations`, idempotent, one
/// instance at a time). A record is committed before [`record`](AuditSink::record) answers, and
/// the records of concurrent calls share one transaction (group commit). Columns as in
/// `SqliteSink`: the record's fields (`arguments` and `detail` as `json`)
/// plus `record`, the whole record as JSON text.
///
/// Fails closed: when PostgreSQL cannot commit within the connect and command timeouts, the
/// calls waiting on that batch fail as `internal`. Broken connections are dropped and new ones
/// made on the next batch, so the sink recovers by itself once PostgreSQL is back. A commit
/// whose answer was lost may have happened: such a call fails though its record is kept, never
/// the other way round.
#[derive(Debug)]
pub struct PostgresSink {
    queue: Queue<Row>,
    /// For the health check only: records go through the writer task.
    pool: Pool,
    /// The longest a call waits for its record: a batch ahead of it and its own.
    deadline: Duration,
}

impl PostgresSink {
    /// Connects to the database at `url`, runs the migrations, and starts the writer task
    /// (which ends when the sink is dropped). Needs a Tokio runtime.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, AuditError> {
        let qualifier = options.qualifier()?;
        let pool = options.pool(url)?;
        let bound = options.connect_timeout + options.command_timeout;
        tokio::time::timeout(bound, migrate(&pool, &options, &qualifier))
            .await
            .map_err(|_| {
                AuditError::other(format!(
                    "the audit database did not answer within {bound:?}"
                ))
            })??;
        let (queue, batches) = group_commit::queue();
        tokio::spawn(write_batches(
            pool.clone(),
            batches,
            INSERT.replace("{schema}", &qualifier),
            options.command_timeout,
        ));
        Ok(PostgresSink {
            queue,
            pool,
            deadline: bound * 2,
        })
    }

    /// How many transactions have committed records, and how many records they held.
    pub fn commits(&self) -> (u64, u64) {
        let stats = self.queue.stats();
        (stats.commits(), stats.rows())
    }

    /// Every record in the database at `url`, oldest first, as JSON. A database without the
    /// table has no records; nothing is created.
    pub async fn read_all(url: &str, options: &PostgresOptions) -> Result<Vec<Value>, AuditError> {
        let qualifier = options.qualifier()?;
        let pool = options.pool(url)?;
        let read = async {
            let client = pool.get().await.map_err(AuditError::other)?;
            let table = format!("{qualifier}audit_log");
            let exists: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await?
                .get(0);
            if !exists {
                return Ok(Vec::new());
            }
            let rows = client
                .query(
                    &format!(
                        "SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),
                                \"user\", role, tool, outcome, arguments::text, duration_ms,
                                incident, cause, detail::text
                         FROM {table} ORDER BY id"
                    ),
                    &[],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Row {
                        ts: row.try_get(0)?,
                        user: row.try_get(1)?,
                        role: row.try_get(2)?,
                        tool: row.try_get(3)?,
                        outcome: row.try_get(4)?,
                        arguments: row.try_get(5)?,
                        duration_ms: row.try_get(6)?,
                        incident: row.try_get(7)?,
                        cause: row.try_get(8)?,
                        detail: row.try_get(9)?,
                    }
                    .into_json()
                })
                .collect()
        };
        // Reading a large log takes what it takes; only reaching the database is bounded.
        read.await
    }
}

impl AuditSink for PostgresSink {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        let row = match Row::new(record) {
            Ok(row) => without_nul(row),
            Err(e) => return StoreFuture::ready(Err(e)),
        };
        StoreFuture::new(async move {
            tokio::time::timeout(self.deadline, self.queue.submit(row))
                .await
                .map_err(|_| {
                    AuditError::other(format!(
                        "the audit database did not commit within {:?}",
                        self.deadline
                    ))
                })?
        })
    }

    fn health(&self) -> StoreFuture<'_, Result<(), StoreUnreachable>> {
        StoreFuture::new(async move {
            let probe = async {
                let client = self.pool.get().await.map_err(|e| e.to_string())?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            };
            tokio::time::timeout(self.deadline / 2, probe)
                .await
                .map_err(|_| format!("no answer within {:?}", self.deadline / 2))
                .and_then(|answer| answer)
                .map_err(|cause| StoreUnreachable::new("PostgreSQL", cause))
        })
    }
}

/// PostgreSQL text cannot hold U+0000, and a row it refuses would fail every call of its batch:
/// the model chooses the tool name and arguments, so it could fail other users' calls. The
/// JSON columns hold it escaped (`\u0000`, which `json` keeps), so only plain text needs this.
fn without_nul(mut row: Row) -> Row {
    let clean = |text: &mut String| {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    };
    for text in [&mut row.ts, &mut row.tool, &mut row.outcome] {
        clean(text);
    }
    for text in [
        &mut row.user,
        &mut row.role,
        &mut row.incident,
        &mut row.cause,
    ]
    .into_iter()
    .flatten()
    {
        clean(text);
    }
    row
}

async fn migrate(
    pool: &Pool,
    options: &PostgresOptions,
    qualifier: &str,
) -> Result<(), AuditError> {
    let mut client = pool.get().await.map_err(AuditError::other)?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    if let Some(schema) = &options.schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {qualifier}tool_runtime_migrations (
             component  text        NOT NULL,
             version    integer     NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (component, version)
         )"
    ))
    .await?;
    let applied: i32 = tx
        .query_one(
            &format!(
                "SELECT coalesce(max(version), 0) FROM {qualifier}tool_runtime_migrations
                 WHERE component = 'audit_log'"
            ),
            &[],
        )
        .await?
        .get(0);
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(AuditError::other(format!(
            "the audit database is at version {applied}, newer than this program's {}",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(&migration.replace("{schema}", qualifier))
            .await?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            &format!(
                "INSERT INTO {qualifier}tool_runtime_migrations (component, version)
                 VALUES ('audit_log', $1)"
            ),
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write_batches(pool: Pool, mut batches: Batches<Row>, insert: String, timeout: Duration) {
    while let Some(batch) = batches.next().await {
        if batch.is_empty() {
            continue;
        }
        let written = write(&pool, &insert, &batch, timeout).await;
        batches.finish(batch, written);
    }
}

async fn write(
    pool: &Pool,
    insert: &str,
    batch: &[Waiting<Row>],
    timeout: Duration,
) -> Result<(), AuditError> {
    // The pool bounds the wait for a connection with the connect timeout.
    let mut client = pool.get().await.map_err(AuditError::other)?;
    match tokio::time::timeout(timeout, insert_batch(&mut client, insert, batch)).await {
        Ok(Ok(())) => Ok(()),
        failed => {
            // A connection that failed or hung is not given to the next batch.
            drop(Object::take(client));
            match failed {
                Ok(Err(e)) => Err(e),
                _ => Err(AuditError::other(format!(
                    "the audit database did not commit within {timeout:?}"
                ))),
            }
        }
    }
}

async fn insert_batch(
    client: &mut Object,
    insert: &str,
    batch: &[Waiting<Row>],
) -> Result<(), AuditError> {
    let column = |f: fn(&Row) -> &String| batch.iter().map(|w| f(&w.row)).collect::<Vec<_>>();
    let optional =
        |f: fn(&Row) -> &Option<String>| batch.iter().map(|w| f(&w.row)).collect::<Vec<_>>();
    let durations: Vec<i64> = batch.iter().map(|w| w.row.duration_ms).collect();
    let tx = client.transaction().await?;
    let statement = tx.prepare_cached(insert).await?;
    tx.execute(
        &statement,
        &[
            &column(|r| &r.ts),
            &optional(|r| &r.user),
            &optional(|r| &r.role),
            &column(|r| &r.tool),
            &column(|r| &r.outcome),
            &column(|r| &r.arguments),
            &durations,
            &optional(|r| &r.incident),
            &optional(|r| &r.cause),
            &optional(|r| &r.detail),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
