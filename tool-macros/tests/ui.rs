//! The macros' specification: what compiles (`ui/pass/`), and what is refused with which
//! message (`ui/fail/`, each case with its expected `.stderr`). Built against `tool-runtime`
//! alone, not against the heavier test fixtures.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
