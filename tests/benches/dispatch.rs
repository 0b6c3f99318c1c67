//! `Toolbox::call_json` against a hand-written baseline doing the same work, and the cost of
//! the guards.
//!
//! The baseline parses the raw JSON text into the same argument struct, runs the same
//! validation, checks the role, runs the same handler, projects and serialises the same reply.
//! "Guards off" is the toolbox with no rate limit and an audit sink that keeps nothing;
//! "guards on" adds a rate limit, a time limit and an in-memory audit log.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use tool_runtime::audit::{AuditError, AuditRecord, AuditSink, StoreFuture};
use tool_runtime::prelude::*;
use tool_runtime::{ProjectAs, Toolbox};
use tool_tests::{App, Customer, Role, SafeCustomer, find_customer};
use validator::Validate;

/// Keeps nothing: the toolbox's own work without a sink's.
struct Discard;
impl AuditSink for Discard {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        black_box(record);
        StoreFuture::ready(Ok(()))
    }
}

/// Counts records, as a cheap real sink would append them.
#[derive(Default)]
struct Count(std::sync::atomic::AtomicU64);
impl AuditSink for Count {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        black_box(record);
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        StoreFuture::ready(Ok(()))
    }
}

/// The same lookup as `tool_tests::get_customer_details`, without the rate limit.
#[secure_tool(role = "support_agent", returns = SafeCustomer, read_only)]
async fn lookup_customer(
    State(app): State<App>,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<Customer, ToolError> {
    find_customer(&app, &customer_id)
}

/// The same, with every guard a read tool can have.
#[secure_tool(role = "support_agent", returns = SafeCustomer, read_only, rate_limit = "4000000000/sec", timeout = "5s")]
async fn guarded_lookup(
    State(app): State<App>,
    /// The customer's id, such as C001.
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
) -> Result<Customer, ToolError> {
    find_customer(&app, &customer_id)
}

#[derive(Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct BaselineArgs {
    #[validate(length(min = 1, max = 16))]
    customer_id: String,
}

/// What one would write by hand for the same call.
async fn baseline(app: &App, session: &Session, args: &str) -> String {
    if !session.has_role(Role::SupportAgent) {
        return r#"{"ok":false,"error":{"code":"not_found"}}"#.to_owned();
    }
    let args: BaselineArgs = match serde_json::from_str(args) {
        Ok(a) => a,
        Err(_) => return r#"{"ok":false,"error":{"code":"invalid_input"}}"#.to_owned(),
    };
    if args.validate().is_err() {
        return r#"{"ok":false,"error":{"code":"invalid_input"}}"#.to_owned();
    }
    let customer = {
        let map = app.customers.lock().unwrap();
        map.get(&args.customer_id).cloned()
    };
    match customer {
        Some(c) => {
            let safe: SafeCustomer = ProjectAs::<SafeCustomer>::project_as(c);
            format!(
                r#"{{"ok":true,"result":{}}}"#,
                serde_json::to_string(&safe).unwrap()
            )
        }
        None => r#"{"ok":false,"error":{"code":"not_found"}}"#.to_owned(),
    }
}

struct Setup {
    rt: tokio::runtime::Runtime,
    app: App,
    session: Session,
    off: Toolbox<App>,
    on: Toolbox<App>,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let app = App::seeded();
    let session = Session::authenticated("carol", Role::SupportAgent);
    let off: Toolbox<App> = Toolbox::builder(app.clone())
        .tool(LookupCustomer)
        .audit(Discard)
        .build()
        .unwrap();
    let on: Toolbox<App> = Toolbox::builder(app.clone())
        .tool(GuardedLookup)
        .audit(Count::default())
        .build()
        .unwrap();
    Setup {
        rt,
        app,
        session,
        off,
        on,
    }
}

const ARGS: &str = r#"{"customer_id":"C001"}"#;

fn bench(c: &mut Criterion) {
    let Setup {
        rt,
        app,
        session,
        off,
        on,
    } = setup();
    let args = ARGS;

    // The three must agree before their speed means anything.
    let expected = rt.block_on(baseline(&app, &session, args));
    assert_eq!(
        rt.block_on(off.call_json(&session, "lookup_customer", args))
            .to_json(),
        expected
    );
    assert_eq!(
        rt.block_on(on.call_json(&session, "guarded_lookup", args))
            .to_json(),
        expected
    );

    let mut group = c.benchmark_group("call");
    group.bench_function("baseline", |b| {
        b.iter(|| rt.block_on(baseline(&app, &session, black_box(args))))
    });
    group.bench_function("toolbox_guards_off", |b| {
        b.iter(|| {
            rt.block_on(off.call_json(&session, "lookup_customer", black_box(args)))
                .to_json()
        })
    });
    group.bench_function("toolbox_guards_on", |b| {
        b.iter(|| {
            rt.block_on(on.call_json(&session, "guarded_lookup", black_box(args)))
                .to_json()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);

criterion_main!(benches);
