//! `SafePath`: every escape named in issue 5 is refused, lexically or when opening.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use tool_runtime::{ErrorCode, PathPolicy, SafePath, ToolError};

struct Exports;

impl PathPolicy for Exports {
    const ROOTS: &'static [&'static str] = &["exports", "reports"];
    const EXTENSIONS: &'static [&'static str] = &["csv", "json", "txt", "md"];
    const MAX_BYTES: u64 = 1024;
}

type Path_ = SafePath<Exports>;

fn parse_json(s: &str) -> Result<Path_, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| e.to_string())
}

fn refused(s: &str) -> String {
    match parse_json(s) {
        Ok(p) => panic!("{s:?} was accepted as {p}"),
        Err(message) => {
            assert!(
                message.contains("inside exports/ or reports/, ending in .csv, .json, .txt or .md"),
                "the message for {s:?} does not state the rules: {message}"
            );
            message
        }
    }
}

/// A data folder with `exports/` and `reports/`, and a secret beside it (outside the folder).
struct Data {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    dir: Dir,
}

fn data() -> Data {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    for sub in ["exports", "reports", "exports_evil", "private"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("exports/customers.csv"), "id,name\nC001,Alice\n").unwrap();
    std::fs::write(root.join("reports/weekly.md"), "# Weekly\n").unwrap();
    std::fs::write(root.join("exports_evil/x.csv"), "evil").unwrap();
    std::fs::write(root.join("private/keys.csv"), "secret").unwrap();
    let outside = tmp.path().join("app.db.csv");
    std::fs::write(&outside, "the application's database").unwrap();
    let dir = Dir::open_ambient_dir(&root, ambient_authority()).unwrap();
    Data {
        _tmp: tmp,
        root,
        outside,
        dir,
    }
}

fn open_err(data: &Data, path: &str) -> ToolError {
    let path = Path_::parse(path).expect("lexically valid");
    match path.read_to_string(&data.dir) {
        Ok(text) => panic!("{path} was read: {text:?}"),
        Err(e) => e,
    }
}

fn assert_policy_refusal(err: &ToolError, host_path: &Path) {
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err:?}");
    assert!(err.message().contains("exports/ or reports/"), "{err:?}");
    let host = host_path.to_string_lossy();
    assert!(!err.message().contains(&*host), "host path leaked: {err:?}");
    assert!(!err.message().contains("/tmp"), "host path leaked: {err:?}");
}

#[test]
fn plain_files_are_read() {
    let data = data();
    let csv = Path_::parse("exports/customers.csv").unwrap();
    assert_eq!(
        csv.read_to_string(&data.dir).unwrap(),
        "id,name\nC001,Alice\n"
    );
    let md: Path_ = parse_json("reports/weekly.md").unwrap();
    assert_eq!(md.read_to_string(&data.dir).unwrap(), "# Weekly\n");
    assert_eq!(md.as_str(), "reports/weekly.md");
    assert_eq!(md.to_string(), "reports/weekly.md");
    assert_eq!(
        serde_json::to_value(&md).unwrap(),
        serde_json::json!("reports/weekly.md")
    );
}

#[test]
fn uppercase_extensions_are_accepted() {
    let data = data();
    std::fs::write(data.root.join("exports/UPPER.CSV"), "a").unwrap();
    std::fs::write(data.root.join("exports/Mixed.Json"), "{}").unwrap();
    assert_eq!(
        Path_::parse("exports/UPPER.CSV")
            .unwrap()
            .read_to_string(&data.dir)
            .unwrap(),
        "a"
    );
    assert!(parse_json("exports/Mixed.Json").is_ok());
    assert!(parse_json("exports/sub/dir/q1-report_v2.final.TXT").is_ok());
}

#[test]
fn absolute_home_and_parent_paths_are_refused() {
    for path in [
        "/etc/passwd",
        "/proc/self/environ",
        "/exports/customers.csv",
        "~/exports/a.csv",
        "exports/~a.csv",
        "../exports/a.csv",
        "exports/../private/keys.csv",
        "exports/..",
        "exports/a/../../private/keys.csv",
        "exports/a..csv",
        "./exports/a.csv",
        "exports/./a.csv",
    ] {
        refused(path);
    }
}

#[test]
fn encoded_and_lookalike_dots_are_refused() {
    for path in [
        "exports/%2e%2e/private/keys.csv",
        "exports/%2E%2E%2Fprivate/keys.csv",
        "exports%2f..%2fprivate/keys.csv",
        "exports/\u{FF0E}\u{FF0E}/private/keys.csv", // fullwidth full stops
        "exports/\u{2024}\u{2024}/private/keys.csv", // one dot leaders
        "exports/\u{2025}/private/keys.csv",         // two dot leader
        "exports/\u{FE52}\u{FE52}/private/keys.csv", // small full stops
        "exports\u{FF0F}a.csv",                      // fullwidth solidus
        "exports\u{2215}a.csv",                      // division slash
        "exports/a\u{FF0E}csv",
        "exports/caf\u{E9}.csv",
    ] {
        refused(path);
    }
}

#[test]
fn control_characters_backslashes_and_odd_shapes_are_refused() {
    for path in [
        "",
        "exports/a.csv\0.txt",
        "exports/a\n.csv",
        "exports/a\t.csv",
        "exports/\u{7f}.csv",
        "exports\\a.csv",
        "exports/..\\private\\keys.csv",
        "exports//a.csv",
        "exports/",
        "exports",
        "exports/a.csv/",
        "exports/.hidden.csv",
        "exports/a b.csv",
    ] {
        refused(path);
    }
    refused(&format!("exports/{}.csv", "a".repeat(300)));
    assert!(parse_json(&format!("exports/{}.csv", "a".repeat(255 - 12))).is_ok());
}

#[test]
fn prefix_siblings_and_other_folders_are_refused() {
    for path in [
        "exports_evil/x.csv",
        "exportsx.csv",
        "exports.csv",
        "private/keys.csv",
        "Exports/customers.csv",
        "x/exports/customers.csv",
    ] {
        refused(path);
    }
}

#[test]
fn extensions_follow_the_last_dot() {
    for path in [
        "exports/a.csv.exe",
        "exports/tool.exe",
        "exports/a.csv.",
        "exports/csv",
        "exports/a",
        "exports/a.csvx",
        "exports/a.c_sv",
    ] {
        refused(path);
    }
    assert!(parse_json("exports/a.exe.csv").is_ok());
}

#[test]
fn messages_name_the_rule_and_do_not_echo_input() {
    let message = refused("/etc/shadow/secret-marker.csv");
    assert!(message.contains("relative"), "{message}");
    assert!(!message.contains("secret-marker"), "{message}");
    assert!(refused("exports/a.exe").contains("file type"));
    assert!(refused("exports_evil/x.csv").contains("outside the allowed folders"));
    let err = Path_::parse("../x.csv").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn the_schema_states_the_rules_and_its_pattern_agrees_with_parsing() {
    let schema = schemars::schema_for!(Path_);
    let value = schema.as_value();
    assert_eq!(value["type"], "string");
    assert_eq!(value["maxLength"], 255);
    let description = value["description"].as_str().unwrap();
    assert!(
        description.contains("inside exports/ or reports/, ending in .csv, .json, .txt or .md")
    );
    let pattern = regex::Regex::new(value["pattern"].as_str().unwrap()).unwrap();
    let mut samples = vec![
        "exports/a.csv".to_owned(),
        "reports/x/y.MD".to_owned(),
        "exports/a.exe.csv".to_owned(),
        "exports/a-b_c.d.json".to_owned(),
        "exports/A.TxT".to_owned(),
        "exports/.a.csv".to_owned(),
        "exports/a..csv".to_owned(),
        "exports/a.csv.".to_owned(),
        "exports_evil/x.csv".to_owned(),
        "exports/x/.csv".to_owned(),
        "exports//a.csv".to_owned(),
        "/exports/a.csv".to_owned(),
        "exports/a.csv\n".to_owned(),
        "exports/\u{FF0E}.csv".to_owned(),
        "reports/a%2e.md".to_owned(),
        "exports/a.cs".to_owned(),
        "exports/-.csv".to_owned(),
        "exports/a.csv.exe".to_owned(),
    ];
    // Every short string over a small alphabet, placed in a file name.
    let alphabet = ['a', '.', '/', '-', '~', '%', '\\'];
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                samples.push(format!("exports/{a}{b}{c}.csv"));
                samples.push(format!("exports{a}{b}{c}csv"));
            }
        }
    }
    for sample in samples {
        assert_eq!(
            pattern.is_match(&sample),
            parse_json(&sample).is_ok(),
            "pattern and parsing disagree on {sample:?}"
        );
    }
}

#[test]
fn symlink_to_an_absolute_outside_path_is_refused() {
    let data = data();
    symlink(&data.outside, data.root.join("exports/db.csv")).unwrap();
    symlink("/etc/passwd", data.root.join("exports/passwd.txt")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/db.csv"), &data.outside);
    assert_policy_refusal(&open_err(&data, "exports/passwd.txt"), &data.root);
}

#[test]
fn relative_parent_symlink_is_refused() {
    let data = data();
    symlink("../private/keys.csv", data.root.join("exports/keys.csv")).unwrap();
    symlink("../../app.db.csv", data.root.join("exports/up.csv")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/keys.csv"), &data.root);
    assert_policy_refusal(&open_err(&data, "exports/up.csv"), &data.root);
}

#[test]
fn symlink_to_a_sibling_root_is_refused() {
    let data = data();
    symlink("../exports_evil/x.csv", data.root.join("exports/evil.csv")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/evil.csv"), &data.root);
}

#[test]
fn symlink_staying_inside_the_root_is_refused_too() {
    let data = data();
    symlink("customers.csv", data.root.join("exports/alias.csv")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/alias.csv"), &data.root);
}

#[test]
fn symlinked_directory_in_the_middle_is_refused() {
    let data = data();
    symlink("../private", data.root.join("exports/inner")).unwrap();
    symlink(data.outside.parent().unwrap(), data.root.join("reports/up")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/inner/keys.csv"), &data.root);
    assert_policy_refusal(&open_err(&data, "reports/up/app.db.csv"), &data.root);
}

#[test]
fn symlinked_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    std::fs::create_dir_all(root.join("real")).unwrap();
    std::fs::write(root.join("real/a.csv"), "a").unwrap();
    symlink("real", root.join("exports")).unwrap();
    let dir = Dir::open_ambient_dir(&root, ambient_authority()).unwrap();
    let err = Path_::parse("exports/a.csv")
        .unwrap()
        .read_to_string(&dir)
        .unwrap_err();
    assert_policy_refusal(&err, &root);
}

#[test]
fn symlink_loop_is_refused_without_hanging() {
    let data = data();
    symlink("loop_b.csv", data.root.join("exports/loop_a.csv")).unwrap();
    symlink("loop_a.csv", data.root.join("exports/loop_b.csv")).unwrap();
    symlink("self", data.root.join("exports/self")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/loop_a.csv"), &data.root);
    assert_policy_refusal(&open_err(&data, "exports/self/a.csv"), &data.root);
}

#[test]
fn proc_self_environ_through_a_symlink_is_refused() {
    let data = data();
    symlink("/proc/self/environ", data.root.join("exports/env.txt")).unwrap();
    assert_policy_refusal(&open_err(&data, "exports/env.txt"), &data.root);
}

#[test]
fn hard_links_are_refused() {
    let data = data();
    std::fs::hard_link(&data.outside, data.root.join("exports/linked.csv")).unwrap();
    let err = open_err(&data, "exports/linked.csv");
    assert_policy_refusal(&err, &data.outside);
    assert!(err.message().contains("hard link"), "{err:?}");
}

#[test]
fn fifo_is_refused_without_hanging() {
    let data = data();
    let fifo = data.root.join("exports/pipe.csv");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    // If the open blocked, the test would hang: a watchdog turns that into a failure.
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = data.dir.try_clone().unwrap();
    std::thread::spawn(move || {
        let result = Path_::parse("exports/pipe.csv")
            .unwrap()
            .read_to_string(&dir)
            .map_err(|e| (e.code(), e.message().to_owned()));
        tx.send(result).unwrap();
    });
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("opening a FIFO hung");
    let (code, message) = result.expect_err("a FIFO was read");
    assert_eq!(code, ErrorCode::InvalidInput);
    assert!(message.contains("not a regular file"), "{message}");
}

#[test]
fn directories_are_refused() {
    let data = data();
    std::fs::create_dir(data.root.join("exports/folder.csv")).unwrap();
    let err = open_err(&data, "exports/folder.csv");
    assert_policy_refusal(&err, &data.root);
    assert!(err.message().contains("not a regular file"), "{err:?}");
}

#[test]
fn missing_files_are_not_found() {
    let data = data();
    for path in [
        "exports/nope.csv",
        "exports/customers.csv/x.csv",
        "reports/a/b.md",
    ] {
        let err = open_err(&data, path);
        assert_eq!(err.code(), ErrorCode::NotFound, "{path}: {err:?}");
        assert_eq!(err.message(), "No such file in exports/ or reports/.");
    }
}

#[test]
fn files_over_the_cap_are_too_large() {
    let data = data();
    std::fs::write(data.root.join("exports/at_cap.csv"), vec![b'a'; 1024]).unwrap();
    std::fs::write(data.root.join("exports/big.csv"), vec![b'a'; 1025]).unwrap();
    let at_cap = Path_::parse("exports/at_cap.csv").unwrap();
    assert_eq!(at_cap.read_to_string(&data.dir).unwrap().len(), 1024);
    let err = open_err(&data, "exports/big.csv");
    assert_eq!(err.code(), ErrorCode::TooLarge, "{err:?}");
    assert!(err.message().contains("1 KiB"), "{err:?}");
}

#[test]
fn invalid_utf8_is_refused_cleanly() {
    let data = data();
    std::fs::write(data.root.join("exports/bin.csv"), [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let err = open_err(&data, "exports/bin.csv");
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.message().contains("UTF-8"), "{err:?}");
}

/// A policy whose extension holds a dot.
struct Archives;
impl PathPolicy for Archives {
    const ROOTS: &'static [&'static str] = &["shared/reports"];
    const EXTENSIONS: &'static [&'static str] = &["tar.gz"];
    const MAX_BYTES: u64 = 1024;
}

/// Found by the `safe_path` fuzz target: an extension with a dot was refused by the runtime and
/// accepted by the schema's pattern. The two now agree, on it and around it.
#[test]
fn an_extension_with_a_dot_agrees_with_the_pattern() {
    let pattern = regex::Regex::new(&tool_runtime::fs::pattern::<Archives>()).unwrap();
    for (path, ok) in [
        ("shared/reports/x/y.tar.gz", true),
        ("shared/reports/y.TAR.GZ", true),
        ("shared/reports/a.b.tar.gz", true),
        ("shared/reports/tar.gz", false),
        ("shared/reports/y.gz", false),
        ("shared/reports/y.tar", false),
        ("shared/reports/ytar.gz", false),
        ("shared/reports/y.tar.gz.exe", false),
    ] {
        assert_eq!(SafePath::<Archives>::parse(path).is_ok(), ok, "{path}");
        assert_eq!(pattern.is_match(path), ok, "pattern: {path}");
    }
}
