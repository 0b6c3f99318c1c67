//! `support-desk` with no arguments, and `support-desk demo`: the transcript and its summary.

mod common;

use common::{binary, success_stdout};

#[test]
fn the_demo_runs_by_default_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&[][..], &["demo"][..]] {
        let out = binary()
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let text = success_stdout(out);

        let summary = text
            .lines()
            .find(|l| l.contains(" calls: "))
            .unwrap_or_else(|| panic!("no summary: {text}"));
        let numbers: Vec<usize> = summary
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        let [calls, allowed, refused] = numbers[..] else {
            panic!("{summary}");
        };
        assert_eq!(calls, allowed + refused);
        let rows = text
            .lines()
            .filter(|l| l.starts_with(['a', 'b', 'c', 'd', 'e', '(']))
            .count();
        // The header starts with "user"; every other such line is one call.
        assert_eq!(rows, calls, "{text}");
        for code in [
            "not_found",
            "invalid_input",
            "invalid_request",
            "unauthenticated",
            "rate_limited",
            "approval_required",
            "approval_denied",
            "too_large",
        ] {
            assert!(text.contains(code), "the demo never shows {code}");
        }
        for user in ["alice", "carol", "dave", "erin", "(anon)"] {
            assert!(
                text.lines().any(|l| l.starts_with(user)),
                "no call by {user}"
            );
        }
    }
    // The demo works in a temporary folder of its own.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
