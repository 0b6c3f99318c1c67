#!/usr/bin/env bash
# The build cost of #[secure_tool]: a crate of N tools (default 200; 2-3 arguments each, all in one
# toolbox) against the same N functions with plain serde + schemars argument structs and a
# hand-written `match` dispatcher, and against rmcp's #[tool_router]. Each crate's own debug build
# (its dependencies built once beforehand) is timed ROUNDS times (default 3), the three in turn
# in each round so that the machine's drift hits them alike; prints each round's seconds and
# rustc's peak memory, then the median ratios to plain.
#
#   bash tests/build_cost/run.sh [N] [ROUNDS]
set -euo pipefail
N=${1:-200}
ROUNDS=${2:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUILD_COST_DIR:-$repo/target/build-cost}
export CARGO_TARGET_DIR=$out/target
mkdir -p "$out"

manifest() { # name, dependencies
    cat <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[lib]
path = "lib.rs"

[dependencies]
$2
TOML
}

gen_secure() {
    local dir=$out/secure && mkdir -p "$dir"
    manifest build-cost-secure "tool-runtime = { path = \"$repo/tool-runtime\" }" > "$dir/Cargo.toml"
    {
        echo 'use tool_runtime::prelude::*;'
        echo '#[derive(Role, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]'
        echo 'pub enum Role { User, Admin }'
        echo '#[derive(Clone)] pub struct App;'
        for i in $(seq 0 $((N - 1))); do
            cat <<RS
/// Tool $i: looks something up.
#[secure_tool(role = "user", read_only)]
pub async fn tool_$i(
    State(_app): State<App>,
    /// The name.
    #[validate(length(min = 1, max = 32))]
    name: String,
    /// How many.
    #[validate(range(max = 100))]
    count: u32,
    /// Whether to include archived ones.
    archived: Option<bool>,
) -> Result<String, ToolError> {
    Ok(format!("{name} {count} {archived:?}"))
}
RS
        done
        echo 'pub fn toolbox() -> Toolbox<App> {'
        echo '    Toolbox::builder(App)'
        for i in $(seq 0 $((N - 1))); do echo "        .tool(Tool$i)"; done
        echo '        .build().unwrap()'
        echo '}'
    } > "$dir/lib.rs"
}

gen_plain() {
    local dir=$out/plain && mkdir -p "$dir"
    manifest build-cost-plain 'serde = { version = "1", features = ["derive"] }
serde_json = "1"
schemars = "1.2"
validator = { version = "0.21", features = ["derive"] }' > "$dir/Cargo.toml"
    {
        echo 'use serde::Deserialize; use schemars::JsonSchema; use validator::Validate;'
        for i in $(seq 0 $((N - 1))); do
            cat <<RS
/// The arguments of tool $i.
#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Tool${i}Args {
    /// The name.
    #[validate(length(min = 1, max = 32))]
    pub name: String,
    /// How many.
    #[validate(range(max = 100))]
    pub count: u32,
    /// Whether to include archived ones.
    pub archived: Option<bool>,
}
/// Tool $i: looks something up.
pub async fn tool_$i(args: Tool${i}Args) -> Result<String, String> {
    Ok(format!("{} {} {:?}", args.name, args.count, args.archived))
}
RS
        done
        echo 'pub async fn dispatch(name: &str, args: &str) -> Result<String, String> {'
        echo '    match name {'
        for i in $(seq 0 $((N - 1))); do
            echo "        \"tool_$i\" => { let a: Tool${i}Args = serde_json::from_str(args).map_err(|e| e.to_string())?; a.validate().map_err(|e| e.to_string())?; tool_$i(a).await }"
        done
        echo '        _ => Err("unknown tool".into()),'
        echo '    }'
        echo '}'
        echo 'pub fn schemas() -> Vec<(&'"'"'static str, schemars::Schema)> {'
        echo '    vec!['
        for i in $(seq 0 $((N - 1))); do echo "        (\"tool_$i\", schemars::schema_for!(Tool${i}Args)),"; done
        echo '    ]'
        echo '}'
    } > "$dir/lib.rs"
}

gen_rmcp() {
    local dir=$out/rmcp && mkdir -p "$dir"
    manifest build-cost-rmcp 'rmcp = { version = "3.11", features = ["server", "macros"] }
serde = { version = "1", features = ["derive"] }' > "$dir/Cargo.toml"
    {
        echo 'use rmcp::{handler::server::wrapper::Parameters, schemars, tool, tool_router};'
        echo 'use serde::Deserialize;'
        for i in $(seq 0 $((N - 1))); do
            cat <<RS
/// The arguments of tool $i.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct Tool${i}Args {
    /// The name.
    pub name: String,
    /// How many.
    pub count: u32,
    /// Whether to include archived ones.
    pub archived: Option<bool>,
}
RS
        done
        echo '#[derive(Clone)] pub struct Server;'
        echo '#[tool_router]'
        echo 'impl Server {'
        for i in $(seq 0 $((N - 1))); do
            cat <<RS
    #[tool(description = "Tool $i: looks something up.")]
    async fn tool_$i(&self, Parameters(a): Parameters<Tool${i}Args>) -> String {
        format!("{} {} {:?}", a.name, a.count, a.archived)
    }
RS
        done
        echo '}'
        echo 'pub fn router() -> rmcp::handler::server::router::tool::ToolRouter<Server> { Server::tool_router() }'
    } > "$dir/lib.rs"
}

gen_secure
gen_plain
gen_rmcp
kinds=(secure plain rmcp)
for kind in "${kinds[@]}"; do
    echo "building $kind's dependencies..." >&2
    cargo build -q --manifest-path "$out/$kind/Cargo.toml"
done

# One crate's own build: its seconds and rustc's peak resident memory in KiB.
measure() {
    touch "$out/$1/lib.rs"
    /usr/bin/time -f '%e %M' -o "$out/time" cargo build -q --manifest-path "$out/$1/Cargo.toml"
    cat "$out/time"
}

declare -A secs mem
for round in $(seq 1 "$ROUNDS"); do
    for kind in "${kinds[@]}"; do
        read -r s m < <(measure "$kind")
        secs[$kind]+="$s "
        mem[$kind]+="$m "
        echo "round $round: $kind ${s}s ${m}KiB"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ps=$(echo "${secs[plain]}" | median)
pm=$(echo "${mem[plain]}" | median)
echo
echo "N=$N tools, median of $ROUNDS rounds (debug build of the crate alone):"
for kind in "${kinds[@]}"; do
    s=$(echo "${secs[$kind]}" | median)
    m=$(echo "${mem[$kind]}" | median)
    awk -v k="$kind" -v s="$s" -v m="$m" -v ps="$ps" -v pm="$pm" \
        'BEGIN { printf "%-7s %7.2f s  %5.2fx plain   %7.0f MiB  %5.2fx plain\n", k, s, s/ps, m/1024, m/pm }'
done
