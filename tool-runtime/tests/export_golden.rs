//! Golden files: each provider's export of the fixture tools, byte for byte.
//! `UPDATE_GOLDEN=1 cargo test -p tool-runtime --test export_golden` rewrites them.

mod export_fixtures;

use std::path::PathBuf;

use serde_json::Value;
use tool_runtime::Definitions;

fn definitions() -> Definitions {
    Definitions::new(export_fixtures::tools()).expect("the fixture tools export")
}

fn golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == text,
        "{} differs from the export; run with UPDATE_GOLDEN=1 and review the diff.\n{}",
        path.display(),
        text
    );
}

#[test]
fn canonical_schemas() {
    let canonical: Value = definitions()
        .iter()
        .map(|d| serde_json::json!({ "name": d.name, "input": d.input_schema, "output": d.output_schema }))
        .collect();
    golden("canonical", &canonical);
}

#[test]
fn openai_chat_completions() {
    golden("openai", &definitions().openai());
}

#[test]
fn openai_responses() {
    golden("openai_responses", &definitions().openai_responses());
}

#[test]
fn anthropic() {
    golden("anthropic", &definitions().anthropic());
}

#[test]
fn gemini() {
    golden("gemini", &definitions().gemini());
}

#[test]
fn mcp() {
    golden("mcp", &definitions().mcp());
}

#[test]
fn generic() {
    golden("generic", &definitions().generic());
}
