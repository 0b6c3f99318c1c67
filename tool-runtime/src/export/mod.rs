//! Tool definitions in each model provider's exact shape.
//!
//! Every tool has one canonical JSON Schema (2020-12) for its arguments, from
//! [`input_schema_of`]. Each provider's export is a pure transform of it: Anthropic and MCP take
//! it whole; OpenAI's strict mode and Gemini accept a subset, so their transforms rewrite what
//! they can (nullable optionals, inlined references, string enums) and move every constraint
//! they cannot say as a keyword into the description, in words. The runtime still enforces the
//! full canonical schema on every call, whatever the model was shown.
//!
//! [`Definitions::new`] runs every transform once and refuses, with an [`ExportError`], a tool
//! that some provider cannot represent (a recursive type for Gemini, nesting too deep for
//! OpenAI, a map of arbitrary keys, an invalid name), so a toolbox finds out when it is built,
//! and the per-provider methods cannot fail afterwards.

pub mod anthropic;
pub mod gemini;
pub mod mcp;
mod normalise;
pub mod openai;
mod schema;

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use crate::tool::Hints;

pub use schema::{drop_null_optionals, input_schema_of, is_valid_tool_name, output_schema_of};

/// What a provider export needs to know about one tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolDefinition {
    /// The name the model calls it by: `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// A human-readable name, shown by MCP clients.
    pub title: Option<String>,
    /// What the tool does, for the model.
    pub description: String,
    /// The canonical schema of the arguments, from [`input_schema_of`].
    pub input_schema: Value,
    /// The canonical schema of the output, from [`output_schema_of`]; only MCP exports it.
    pub output_schema: Option<Value>,
    /// Behaviour hints, exported as MCP annotations.
    pub hints: Hints,
}

/// A part of a schema that a provider's format cannot express, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrepresentable {
    /// A JSON pointer into the canonical schema (`/properties/address/properties/zip`).
    pub at: String,
    /// What cannot be expressed.
    pub reason: String,
}

impl Unrepresentable {
    pub(crate) fn new(at: &str, reason: impl Into<String>) -> Self {
        Unrepresentable {
            at: if at.is_empty() {
                "/".to_owned()
            } else {
                at.to_owned()
            },
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at `{}`: {}", self.at, self.reason)
    }
}

impl std::error::Error for Unrepresentable {}

/// Why a set of tool definitions cannot be exported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A name some provider refuses.
    #[error("tool name `{0}` is invalid: it must match ^[a-zA-Z0-9_-]{{1,64}}$")]
    InvalidName(String),
    /// Two tools share a name, so a model's call could not say which one it means.
    #[error("two tools are named `{0}`; tool names must be unique")]
    DuplicateName(String),
    /// A provider cannot represent the tool's schema.
    #[error("tool `{tool}` cannot be exported for {provider}: {problem}")]
    Unrepresentable {
        /// The tool's name.
        tool: String,
        /// `OpenAI`, `Gemini`, ...
        provider: &'static str,
        /// Where in the schema, and why.
        problem: Unrepresentable,
    },
}

/// One tool with its provider-specific schemas computed.
#[derive(Clone, Debug)]
struct Exported {
    definition: ToolDefinition,
    openai_parameters: Value,
    gemini_declaration: Value,
    mcp_tool: Value,
}

/// The tools a session may call, ready to be exported in any provider's shape.
///
/// Built once with [`Definitions::new`], which checks every tool against every provider; each
/// export method then returns the JSON array the provider's API takes.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    tools: Vec<Exported>,
}

impl Definitions {
    /// Checks and transforms the definitions for every provider.
    ///
    /// Refuses an invalid or duplicate name and a schema some provider cannot represent; the
    /// error names the tool, the provider and the place in the schema.
    pub fn new(definitions: Vec<ToolDefinition>) -> Result<Self, ExportError> {
        let mut names = BTreeSet::new();
        let mut tools = Vec::with_capacity(definitions.len());
        for definition in definitions {
            if !is_valid_tool_name(&definition.name) {
                return Err(ExportError::InvalidName(definition.name));
            }
            if !names.insert(definition.name.clone()) {
                return Err(ExportError::DuplicateName(definition.name));
            }
            let failed = |provider: &'static str| {
                let tool = definition.name.clone();
                move |problem| ExportError::Unrepresentable {
                    tool,
                    provider,
                    problem,
                }
            };
            let openai_parameters =
                openai::strict_parameters(&definition.input_schema).map_err(failed("OpenAI"))?;
            let gemini_declaration =
                gemini::function_declaration(&definition).map_err(failed("Gemini"))?;
            let mcp_tool = mcp::tool(&definition).map_err(failed("MCP"))?;
            anthropic::check(&definition).map_err(failed("Anthropic"))?;
            tools.push(Exported {
                definition,
                openai_parameters,
                gemini_declaration,
                mcp_tool,
            });
        }
        Ok(Definitions { tools })
    }

    /// The subset whose definitions pass `keep`, in the same order: for a session's view of a
    /// toolbox's full set, built once.
    pub fn filtered(&self, mut keep: impl FnMut(&ToolDefinition) -> bool) -> Definitions {
        Definitions {
            tools: self
                .tools
                .iter()
                .filter(|tool| keep(&tool.definition))
                .cloned()
                .collect(),
        }
    }

    /// The definitions, in order.
    pub fn iter(&self) -> impl Iterator<Item = &ToolDefinition> {
        self.tools.iter().map(|tool| &tool.definition)
    }

    /// The definition of the tool with this name.
    pub fn get(&self, name: &str) -> Option<&ToolDefinition> {
        self.iter().find(|definition| definition.name == name)
    }

    /// How many tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// OpenAI Chat Completions `tools`:
    /// `[{"type": "function", "function": {name, description, parameters, "strict": true}}]`.
    pub fn openai(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| openai::chat_tool(&tool.definition, &tool.openai_parameters))
            .collect()
    }

    /// OpenAI Responses API `tools`:
    /// `[{"type": "function", name, description, parameters, "strict": true}]`.
    pub fn openai_responses(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| openai::responses_tool(&tool.definition, &tool.openai_parameters))
            .collect()
    }

    /// Anthropic Messages `tools`: `[{name, description, input_schema}]`, the canonical schema.
    pub fn anthropic(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| anthropic::tool(&tool.definition))
            .collect()
    }

    /// Gemini's `functionDeclarations` array: `[{name, description, parameters?}]`.
    ///
    /// Put it in a request as `"tools": [{"functionDeclarations": <this>}]`; leave the tool out
    /// when the array is empty, which Gemini refuses.
    pub fn gemini(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| tool.gemini_declaration.clone())
            .collect()
    }

    /// The `tools` array of an MCP `tools/list` result (protocol 2025-06-18).
    pub fn mcp(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| tool.mcp_tool.clone())
            .collect()
    }

    /// Provider-neutral: `[{name, description, input_schema}]` with the canonical schema.
    pub fn generic(&self) -> Value {
        self.tools
            .iter()
            .map(|tool| {
                let definition = &tool.definition;
                serde_json::json!({
                    "name": definition.name,
                    "description": definition.description,
                    "input_schema": definition.input_schema,
                })
            })
            .collect()
    }
}
