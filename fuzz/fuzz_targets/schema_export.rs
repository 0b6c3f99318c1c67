//! Every provider export of any JSON Schema document: a clean `ExportError` or definitions
//! every provider method can write, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tool_runtime::Hints;
use tool_runtime::export::{Definitions, ToolDefinition, gemini, mcp, openai};

fuzz_target!(|data: &[u8]| {
    let Ok(schema) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    // Each transform alone, as a toolbox's build runs it.
    if let Ok(strict) = openai::strict_parameters(&schema) {
        assert_eq!(strict["type"], "object", "strict mode's root is an object");
        assert_eq!(strict["additionalProperties"], false, "{strict}");
    }
    let _ = gemini::parameters(&schema);
    let definition = ToolDefinition {
        name: "fuzzed".into(),
        title: None,
        description: "A fuzzed schema.".into(),
        input_schema: schema.clone(),
        output_schema: Some(schema),
        hints: Hints::default(),
    };
    let _ = mcp::tool(&definition);
    if let Ok(definitions) = Definitions::new(vec![definition]) {
        for export in [
            definitions.openai(),
            definitions.openai_responses(),
            definitions.anthropic(),
            definitions.gemini(),
            definitions.mcp(),
            definitions.generic(),
        ] {
            assert_eq!(export.as_array().map(Vec::len), Some(1), "{export}");
        }
    }
});
