//! The guarantees against plausible code, not only the obvious mistakes: a mask holds however
//! the output was built, a panic anywhere in a call ends as `internal` with its record, text is
//! bounded at every depth of the arguments, and a pattern means the same to the schema and the
//! runtime. (What the macro refuses at compile time is in `tests/ui/fail/`.)

use std::sync::LazyLock;

use serde_json::json;
use tool_runtime::audit::MemorySink;
use tool_runtime::prelude::*;
use tool_runtime::{BuildError, ToolboxBuilder};
use tool_tests::Role;

/// A profile with masked fields, built by the handler itself rather than projected.
#[derive(SafeOutput)]
pub struct Contact {
    pub name: String,
    #[mask(email)]
    pub email: String,
    #[mask(keep_last = 4)]
    pub phone: String,
    #[mask(keep_last = 2)]
    pub backup: Option<String>,
}

/// Build a contact by hand.
#[secure_tool(role = "user")]
async fn hand_built_contact() -> Result<Contact, ToolError> {
    Ok(Contact {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        phone: "555-010-1234".into(),
        backup: Some("555-010-9876".into()),
    })
}

/// Build a list of contacts by hand.
#[secure_tool(role = "user")]
async fn hand_built_contacts() -> Result<Vec<Contact>, ToolError> {
    Ok(vec![Contact {
        name: "Bob".into(),
        email: "bob@example.com".into(),
        phone: "555-020-5678".into(),
        backup: None,
    }])
}

fn sloppy_check(text: &str) -> Result<(), validator::ValidationError> {
    // An ordinary bug: byte slicing that panics on a multi-byte character.
    if &text[..1] == "x" {
        return Err(validator::ValidationError::new("x"));
    }
    Ok(())
}

/// Validated by a custom function with a bug.
#[secure_tool(role = "user")]
async fn sloppy(
    /// Any short text.
    #[validate(length(min = 1, max = 8), custom(function = "sloppy_check"))]
    text: String,
) -> Result<bool, ToolError> {
    Ok(!text.is_empty())
}

/// An argument type whose hand-written `Deserialize` panics on one input.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct FragileNumber(u8);

impl<'de> serde::Deserialize<'de> for FragileNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        assert!(n != 13, "unlucky number");
        Ok(FragileNumber(n))
    }
}

/// Takes a fragile argument.
#[secure_tool(role = "user")]
async fn fragile(
    /// A number.
    n: FragileNumber,
) -> Result<u8, ToolError> {
    Ok(n.0)
}

/// An output whose `Serialize` panics.
pub struct Unwritable;

impl serde::Serialize for Unwritable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("cannot serialise")
    }
}

impl schemars::JsonSchema for Unwritable {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Unwritable".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "null"})
    }
}

impl tool_runtime::SafeOutput for Unwritable {}

/// Returns an output that cannot be written.
#[secure_tool(role = "user")]
async fn exploding() -> Result<Unwritable, ToolError> {
    Ok(Unwritable)
}

/// A secret argument with a raw identifier.
#[secure_tool(role = "user")]
async fn set_secret_kind(
    /// The kind, itself a secret.
    #[secret]
    #[validate(length(max = 16))]
    r#type: String,
) -> Result<usize, ToolError> {
    Ok(r#type.len())
}

/// A generic record wrapper, projected by its own fields only.
#[derive(Record)]
pub struct Versioned<T> {
    pub version: u32,
    pub value: T,
}

impl<T> std::ops::Deref for Versioned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[derive(Record)]
pub struct Account {
    pub owner: String,
    #[secret]
    pub pin: u32,
}

/// An account as the model sees it.
#[derive(SafeOutput)]
#[safe_output(from = Account)]
pub struct SafeAccount {
    pub owner: String,
}

pub type VersionedAccount = Versioned<Account>;

/// A versioned account as the model sees it.
#[derive(SafeOutput)]
#[safe_output(from = VersionedAccount)]
pub struct SafeVersionedAccount {
    pub version: u32,
    pub value: SafeAccount,
}

/// Get the current account.
#[secure_tool(role = "user", returns = SafeVersionedAccount)]
async fn current_account() -> Result<Versioned<Account>, ToolError> {
    Ok(Versioned {
        version: 3,
        value: Account {
            owner: "alice".into(),
            pin: 4321,
        },
    })
}

#[derive(Clone)]
struct NoState;

fn user() -> Session {
    Session::authenticated("alice", Role::User)
}

fn toolbox(sink: &MemorySink) -> Toolbox<NoState> {
    Toolbox::builder(NoState)
        .tool(HandBuiltContact)
        .tool(HandBuiltContacts)
        .tool(Sloppy)
        .tool(Fragile)
        .tool(Exploding)
        .tool(SetSecretKind)
        .tool(CurrentAccount)
        .audit(sink.clone())
        .build()
        .expect("the toolbox builds")
}

#[tokio::test]
async fn masks_hold_for_outputs_built_by_hand() {
    let sink = MemorySink::new();
    let tb = toolbox(&sink);
    let reply = tb.call(&user(), "hand_built_contact", json!({})).await;
    assert_eq!(
        reply.result(),
        Some(json!({
            "name": "Alice",
            "email": "a***@example.com",
            "phone": "***-***-1234",
            "backup": "***-***-**76"
        }))
    );
    let reply = tb.call(&user(), "hand_built_contacts", json!({})).await;
    assert_eq!(
        reply.result(),
        Some(json!([{
            "name": "Bob", "email": "b***@example.com", "phone": "***-***-5678", "backup": null
        }]))
    );
    // The same value, serialised anywhere else, is masked too.
    let contact = Contact {
        name: "C".into(),
        email: "carol@example.com".into(),
        phone: "555-030-1111".into(),
        backup: None,
    };
    let text = serde_json::to_string(&contact).unwrap();
    assert!(!text.contains("carol@") && !text.contains("030"), "{text}");
}

#[tokio::test]
async fn a_wrapped_record_projects_through_its_own_fields() {
    let tb = toolbox(&MemorySink::new());
    let reply = tb.call(&user(), "current_account", json!({})).await;
    assert_eq!(
        reply.result(),
        Some(json!({"version": 3, "value": {"owner": "alice"}}))
    );
    assert!(!reply.to_json().contains("4321"));
    // What each projection reads of its source, for a handler to load no more than that.
    assert_eq!(SafeVersionedAccount::SOURCE_FIELDS, ["version", "value"]);
    assert_eq!(SafeAccount::SOURCE_FIELDS, ["owner"]);
    assert!(Contact::SOURCE_FIELDS.is_empty());
}

/// Every panic before, in or after the handler: `internal` with an incident, and one record.
#[tokio::test]
async fn a_panic_at_any_step_is_internal_and_audited() {
    let sink = MemorySink::new();
    let tb = toolbox(&sink);
    let cases = [
        ("sloppy", r#"{"text":"€uro"}"#),
        ("fragile", r#"{"n":13}"#),
        ("exploding", "{}"),
    ];
    for (tool, args) in cases {
        let reply = tb.call_json(&user(), tool, args).await;
        assert_eq!(reply.code(), Some(ErrorCode::Internal), "{tool}");
        let envelope = reply.to_value();
        let incident = envelope["error"]["incident"].as_str().expect("an incident");
        let text = envelope.to_string();
        assert!(
            !text.contains("panic") && !text.contains("unlucky") && !text.contains("byte index"),
            "{text}"
        );
        let records = sink.records();
        let record = records.last().unwrap();
        assert_eq!(record.tool, tool);
        assert_eq!(record.outcome, "internal");
        assert_eq!(record.incident.as_deref(), Some(incident));
        assert!(record.cause.as_deref().unwrap().contains("panicked"));
    }
    assert_eq!(sink.records().len(), cases.len());
    // The same inputs without the bug run normally.
    let reply = tb.call_json(&user(), "sloppy", r#"{"text":"euro"}"#).await;
    assert_eq!(reply.result(), Some(json!(true)));
    let reply = tb.call_json(&user(), "fragile", r#"{"n":12}"#).await;
    assert_eq!(reply.result(), Some(json!(12)));
    // Checking arguments without running them is inside the boundary too.
    let err = tb
        .check_arguments(&user(), "fragile", r#"{"n":13}"#)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal);
}

#[tokio::test]
async fn a_raw_named_secret_argument_is_redacted() {
    let sink = MemorySink::new();
    let tb = toolbox(&sink);
    let reply = tb
        .call_json(&user(), "set_secret_kind", r#"{"type":"hunter2"}"#)
        .await;
    assert_eq!(reply.result(), Some(json!(7)));
    let refused = tb
        .call_json(&user(), "set_secret_kind", r#"{"type":"hunter2", "x": 1}"#)
        .await;
    assert_eq!(refused.code(), Some(ErrorCode::InvalidInput));
    let records = sink.records();
    assert_eq!(records.len(), 2);
    for record in records {
        assert_eq!(record.arguments["type"], json!("[redacted]"));
    }
}

/// A struct argument whose text field has no bound.
#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// Any text at all.
    pub text: String,
}

/// Takes a struct with unbounded text.
#[secure_tool(role = "user")]
async fn add_note(
    /// The note.
    note: Note,
) -> Result<usize, ToolError> {
    Ok(note.text.len())
}

/// An enum argument whose variant carries unbounded text.
#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Everyone,
    Named { name: String },
}

/// Takes an enum with unbounded text.
#[secure_tool(role = "user")]
async fn notify(
    /// Whom to notify.
    target: Target,
) -> Result<bool, ToolError> {
    Ok(matches!(target, Target::Everyone))
}

/// A struct argument holding an unbounded list of bounded numbers.
#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// As many ids as you like.
    pub ids: Vec<u32>,
}

/// Takes a struct with an unbounded list.
#[secure_tool(role = "user")]
async fn run_batch(
    /// The batch.
    batch: Batch,
) -> Result<usize, ToolError> {
    Ok(batch.ids.len())
}

fn build_error(add: impl FnOnce(ToolboxBuilder<NoState>) -> ToolboxBuilder<NoState>) -> String {
    match add(Toolbox::builder(NoState)).build() {
        Ok(_) => panic!("the toolbox built"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unbounded_text_at_any_depth_stops_the_build() {
    let err = build_error(|b| b.tool(AddNote));
    assert!(
        err.contains("`add_note`") && err.contains("string at `/$defs/Note/properties/text`"),
        "{err}"
    );
    assert!(err.contains("#[validate(length(max = N))]"), "{err}");
    let err = build_error(|b| b.tool(Notify));
    assert!(
        err.contains("`notify`") && err.contains("string at") && err.contains("/properties/name"),
        "{err}"
    );
    let err = build_error(|b| b.tool(RunBatch));
    assert!(
        err.contains("`run_batch`") && err.contains("list at `/$defs/Batch/properties/ids`"),
        "{err}"
    );
    assert!(matches!(
        Toolbox::builder(NoState).tool(AddNote).build(),
        Err(BuildError::UnboundedArgument { what: "string", .. })
    ));
}

static UNICODE_DIGITS: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^O\d{4}$").unwrap());

/// Look up an order by a code whose pattern reads differently in the two dialects.
#[secure_tool(role = "user")]
async fn by_code(
    /// The order code.
    #[validate(length(max = 8), regex(path = *UNICODE_DIGITS))]
    code: String,
) -> Result<String, ToolError> {
    Ok(code)
}

#[test]
fn a_pattern_the_dialects_read_differently_stops_the_build() {
    let err = build_error(|b| b.tool(ByCode));
    assert!(
        err.contains("`by_code`") && err.contains("/properties/code"),
        "{err}"
    );
    assert!(err.contains(r"`\d`") && err.contains("[0-9]"), "{err}");
    assert!(matches!(
        Toolbox::builder(NoState).tool(ByCode).build(),
        Err(BuildError::PatternDialect { .. })
    ));
}

#[tokio::test]
async fn an_ascii_pattern_refuses_other_digits_at_run_time_as_in_the_schema() {
    let tb = tool_tests::toolbox(tool_tests::App::seeded());
    for (code, ok) in [
        ("O1234", true),
        ("O١٢٣٤", false),
        ("O123", false),
        ("xO1234", false),
    ] {
        let reply = tb
            .call(&user(), "find_order_code", json!({ "code": code }))
            .await;
        assert_eq!(reply.is_ok(), ok, "{code}: {}", reply.to_json());
    }
}
