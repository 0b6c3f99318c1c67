//! The access rules against a reference model: `authorize` below says in a few lines what a
//! call must come to and whether the tool is listed, from the tool's declarations and the
//! session alone (its role, expiry and, when it came from a token, its scopes); a property test
//! checks that `Toolbox::call` and `definitions` agree with it on generated sessions and calls,
//! over a toolbox with a tool for every combination of declarations.
//!
//! Cases: `PROPTEST_CASES` (10,000 when unset). A million locally:
//! `PROPTEST_CASES=1000000 cargo test --release -p tool-tests --test authorizer`.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use tool_runtime::audit::{AuditError, AuditRecord, AuditSink};
use tool_runtime::prelude::*;
use tool_runtime::{Scope, StoreFuture};

#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    Agent,
    Admin,
}

/// Another application's roles: none of them satisfies a rule written with `Role`.
#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Foreign {
    Guest,
    Owner,
}

/// Who may call, as declared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Public,
    Authenticated,
    /// A role of `Role`, by rank.
    Role(u16),
}

/// What else is declared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Effect {
    Plain,
    ReadOnly,
    /// `destructive`: a human approves.
    Destructive,
    /// `destructive, confirm = "yes, really"`.
    Confirmed,
}

#[derive(Clone, Debug)]
enum Caller {
    Anonymous,
    AnonymousClient(String),
    /// A live session of this rank; `Some` expiry is in the future.
    User(u16, bool),
    Expired(u16),
    /// Logged in with another application's role.
    ForeignRole,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Confirmation {
    Absent,
    Right,
    Wrong,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    NotFound,
    Unauthenticated,
    ApprovalRequired,
    InvalidInput,
    Runs,
}

/// A token's scopes, when the session came from one: (`tools:read`, `tools:write`).
type Scopes = Option<(bool, bool)>;

/// The reference: what a call must come to, and whether the tool is listed for the caller.
fn authorize(
    tool: Option<(Who, Effect)>,
    caller: &Caller,
    scopes: Scopes,
    conf: Confirmation,
) -> (Outcome, bool) {
    let Some((who, effect)) = tool else {
        return (Outcome::NotFound, false);
    };
    let (logged_in, rank) = match caller {
        Caller::User(rank, _) => (true, Some(*rank)),
        Caller::ForeignRole => (true, None),
        Caller::Anonymous | Caller::AnonymousClient(_) | Caller::Expired(_) => (false, None),
    };
    let role_allows = match who {
        Who::Public => true,
        Who::Authenticated => logged_in,
        Who::Role(min) => rank.is_some_and(|r| r >= min),
    };
    // Scopes narrow what the role allows: `tools:read` for read-only tools, `tools:write` for
    // the rest. A tool the scopes leave out is as absent as one above the role.
    let scopes_allow = scopes.is_none_or(|(read, write)| {
        if effect == Effect::ReadOnly {
            read
        } else {
            write
        }
    });
    let allowed = role_allows && scopes_allow;
    if !allowed {
        // Telling a caller who is not logged in that a tool exists is only fair for tools every
        // logged-in user has; anything above that is as unknown as a missing tool.
        let any_user_has_it = matches!(who, Who::Authenticated | Who::Role(0));
        let outcome = if !logged_in && any_user_has_it {
            Outcome::Unauthenticated
        } else {
            Outcome::NotFound
        };
        return (outcome, false);
    }
    let outcome = match (effect, conf) {
        (Effect::Confirmed, Confirmation::Right) => Outcome::Runs,
        (Effect::Confirmed, _) => Outcome::InvalidInput,
        // Only a `confirm` tool has a `confirmation` argument: elsewhere it is unknown.
        (_, Confirmation::Right | Confirmation::Wrong) => Outcome::InvalidInput,
        (Effect::Destructive, Confirmation::Absent) => Outcome::ApprovalRequired,
        (Effect::Plain | Effect::ReadOnly, Confirmation::Absent) => Outcome::Runs,
    };
    (outcome, true)
}

/// One tool per line: its name, its type, the model's view of its declarations, the attribute.
macro_rules! fixture {
    ($($name:ident $ty:ident ($who:expr, $effect:expr) [$($attr:tt)*];)*) => {
        $(
            /// A tool of the access fixture.
            #[secure_tool($($attr)*)]
            pub async fn $name() -> Result<String, ToolError> {
                Ok(stringify!($name).to_owned())
            }
        )*
        const TOOLS: &[(&str, Who, Effect)] = &[$((stringify!($name), $who, $effect)),*];
        fn toolbox(sink: Counting) -> Toolbox<()> {
            // The reference decides each call on its own: no refusal budget runs out here
            // (that budget has tests of its own, in audit_bounds.rs).
            let limits = tool_runtime::Limits {
                refusals_per_minute: u32::MAX,
                ..Default::default()
            };
            Toolbox::builder(())
                .audit(sink)
                .limits(limits)
                $(.tool($ty))*
                .build()
                .expect("the fixture builds")
        }
    };
}

use Effect::{Confirmed, Destructive, Plain, ReadOnly};
use Who::{Authenticated, Public};

fixture! {
    pub_plain PubPlain (Public, Plain) [public];
    pub_read PubRead (Public, ReadOnly) [public, read_only];
    pub_approve PubApprove (Public, Destructive) [public, destructive];
    pub_confirm PubConfirm (Public, Confirmed) [public, destructive, confirm = "yes, really"];
    any_plain AnyPlain (Authenticated, Plain) [];
    any_read AnyRead (Authenticated, ReadOnly) [read_only];
    any_approve AnyApprove (Authenticated, Destructive) [destructive];
    any_confirm AnyConfirm (Authenticated, Confirmed) [destructive, confirm = "yes, really"];
    user_plain UserPlain (Who::Role(0), Plain) [role = "user"];
    user_read UserRead (Who::Role(0), ReadOnly) [role = "user", read_only];
    user_approve UserApprove (Who::Role(0), Destructive) [role = "user", destructive];
    user_confirm UserConfirm (Who::Role(0), Confirmed) [role = "user", destructive, confirm = "yes, really"];
    agent_plain AgentPlain (Who::Role(1), Plain) [role = "agent"];
    agent_read AgentRead (Who::Role(1), ReadOnly) [role = "agent", read_only];
    agent_approve AgentApprove (Who::Role(1), Destructive) [role = "agent", destructive];
    agent_confirm AgentConfirm (Who::Role(1), Confirmed) [role = "agent", destructive, confirm = "yes, really"];
    admin_plain AdminPlain (Who::Role(2), Plain) [role = "admin"];
    admin_read AdminRead (Who::Role(2), ReadOnly) [role = "admin", read_only];
    admin_approve AdminApprove (Who::Role(2), Destructive) [role = "admin", destructive];
    admin_confirm AdminConfirm (Who::Role(2), Confirmed) [role = "admin", destructive, confirm = "yes, really"];
}

/// Counts records and keeps the last one: a million cases must not keep a million records.
#[derive(Clone, Default)]
struct Counting(std::sync::Arc<Mutex<(usize, Option<AuditRecord>)>>);

impl AuditSink for Counting {
    fn record<'a>(&'a self, record: &'a AuditRecord) -> StoreFuture<'a, Result<(), AuditError>> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        guard.1 = Some(record.clone());
        StoreFuture::ready(Ok(()))
    }
}

fn session(caller: &Caller, scopes: Scopes) -> Session {
    let role = |rank: u16| Role::ALL[usize::from(rank)];
    let session = match caller {
        Caller::Anonymous => Session::anonymous(),
        Caller::AnonymousClient(client) => Session::anonymous().with_client(client.clone()),
        Caller::User(rank, false) => Session::authenticated("u1", role(*rank)),
        Caller::User(rank, true) => Session::authenticated("u1", role(*rank))
            .expires_at(SystemTime::now() + Duration::from_secs(3600)),
        Caller::Expired(rank) => {
            Session::authenticated("u1", role(*rank)).expires_at(SystemTime::UNIX_EPOCH)
        }
        Caller::ForeignRole => Session::authenticated("u2", Foreign::Owner),
    };
    match scopes {
        None => session,
        Some((read, write)) => session.with_scopes(
            [(read, Scope::Read), (write, Scope::Write)]
                .into_iter()
                .filter_map(|(granted, scope)| granted.then_some(scope)),
        ),
    }
}

/// No scopes (a session the host made) half the time; any pair of them otherwise.
fn scopes() -> impl Strategy<Value = Scopes> {
    prop::option::of((any::<bool>(), any::<bool>()))
}

fn caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        Just(Caller::Anonymous),
        "[a-z0-9.:]{1,12}".prop_map(Caller::AnonymousClient),
        (0u16..3, any::<bool>()).prop_map(|(r, e)| Caller::User(r, e)),
        (0u16..3).prop_map(Caller::Expired),
        Just(Caller::ForeignRole),
    ]
}

/// A fixture tool's name most of the time; otherwise a near miss or any name.
fn tool_name() -> impl Strategy<Value = String> {
    let known = (0..TOOLS.len()).prop_map(|i| TOOLS[i].0.to_owned());
    prop_oneof![
        8 => known.clone(),
        1 => known.prop_map(|n| n.to_uppercase()),
        1 => "[a-z_]{0,16}",
    ]
}

fn confirmation() -> impl Strategy<Value = Confirmation> {
    prop_oneof![
        Just(Confirmation::Absent),
        Just(Confirmation::Right),
        Just(Confirmation::Wrong),
    ]
}

fn arguments(conf: Confirmation) -> serde_json::Value {
    match conf {
        Confirmation::Absent => json!({}),
        Confirmation::Right => json!({ "confirmation": "yes, really" }),
        Confirmation::Wrong => json!({ "confirmation": "yes really" }),
    }
}

fn expected_code(outcome: Outcome) -> Option<ErrorCode> {
    match outcome {
        Outcome::NotFound => Some(ErrorCode::NotFound),
        Outcome::Unauthenticated => Some(ErrorCode::Unauthenticated),
        Outcome::ApprovalRequired => Some(ErrorCode::ApprovalRequired),
        Outcome::InvalidInput => Some(ErrorCode::InvalidInput),
        Outcome::Runs => None,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

#[test]
fn the_toolbox_agrees_with_the_reference_authorizer() {
    let sink = Counting::default();
    let toolbox = toolbox(sink.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(caller in caller(), scopes in scopes(), name in tool_name(), conf in confirmation())| {
        let declared = TOOLS.iter().find(|t| t.0 == name).map(|t| (t.1, t.2));
        let (outcome, listed) = authorize(declared, &caller, scopes, conf);
        let session = session(&caller, scopes);
        let before = sink.0.lock().unwrap().0;

        let reply = runtime.block_on(toolbox.call(&session, &name, arguments(conf)));

        prop_assert_eq!(reply.code(), expected_code(outcome), "{:?}", reply.to_json());
        if outcome == Outcome::Runs {
            prop_assert_eq!(reply.result(), Some(json!(name)));
        }
        prop_assert_eq!(toolbox.definitions(&session).get(&name).is_some(), listed);
        let (count, last) = &*sink.0.lock().unwrap();
        prop_assert_eq!(*count, before + 1, "one audit record per call");
        let last = last.as_ref().expect("a record");
        prop_assert_eq!(last.outcome.as_ref(), reply.outcome_code());
    });
}

/// The listing as a whole, for every caller kind: exactly the tools the model lists.
#[test]
fn definitions_list_exactly_what_the_model_lists() {
    let toolbox = toolbox(Counting::default());
    let callers = [
        Caller::Anonymous,
        Caller::AnonymousClient("10.0.0.1".into()),
        Caller::User(0, false),
        Caller::User(1, true),
        Caller::User(2, false),
        Caller::Expired(2),
        Caller::ForeignRole,
    ];
    let scope_sets = [
        None,
        Some((true, true)),
        Some((true, false)),
        Some((false, true)),
        Some((false, false)),
    ];
    for caller in &callers {
        for scopes in scope_sets {
            let definitions = toolbox.definitions(&session(caller, scopes));
            let mut listed: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
            let mut expected: Vec<&str> = TOOLS
                .iter()
                .filter(|t| authorize(Some((t.1, t.2)), caller, scopes, Confirmation::Absent).1)
                .map(|t| t.0)
                .collect();
            listed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(listed, expected, "{caller:?} {scopes:?}");
        }
    }
    // Fewer scopes list fewer tools: read alone lists exactly the read-only ones a role has.
    let agent = |scopes| {
        toolbox
            .definitions(&session(&Caller::User(1, false), scopes))
            .len()
    };
    assert!(agent(Some((true, false))) < agent(Some((true, true))));
    assert!(agent(Some((false, false))) == 0);
}
