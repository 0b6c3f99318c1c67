//! The macros' specification: what compiles, and what is refused with which message.
//!
//! The cases live in the workspace's `tests/ui/`; the driver lives here so that trybuild builds
//! them against `tool-runtime` alone, not against the heavier test fixtures.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("../tests/ui/pass/*.rs");
    t.compile_fail("../tests/ui/fail/*.rs");
}
