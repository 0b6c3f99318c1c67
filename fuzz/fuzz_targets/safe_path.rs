//! `SafePath::parse` against the pattern the schema shows the model: the two accept exactly the
//! same paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tool_runtime::fs::{MAX_PATH_LEN, pattern};
use tool_runtime::{PathPolicy, SafePath};

struct Exports;
impl PathPolicy for Exports {
    const ROOTS: &'static [&'static str] = &["exports", "shared/reports"];
    const EXTENSIONS: &'static [&'static str] = &["csv", "tar.gz"];
    const MAX_BYTES: u64 = 1 << 20;
}

static PATTERN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(&pattern::<Exports>()).expect("a valid pattern"));

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = SafePath::<Exports>::parse(text);
    let schema_accepts = text.chars().count() <= MAX_PATH_LEN && PATTERN.is_match(text);
    assert_eq!(parsed.is_ok(), schema_accepts, "{text:?}");
    if let Ok(path) = parsed {
        assert_eq!(path.as_str(), text);
        assert!(
            !path
                .as_str()
                .split('/')
                .any(|part| part == ".." || part == ".")
        );
    }
});
