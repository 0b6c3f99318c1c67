//! The command line, driven through the built binary as the contract's users drive it.

use std::path::Path;
use std::process::{Command, Output};

use support_desk::data_dir::FILES;
use support_desk::db::Db;

fn desk(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_support-desk"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn init_creates_the_database_and_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = desk(
        dir.path(),
        &["init", "--db", "desk.db", "--data-dir", "data"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let db = Db::open(dir.path().join("desk.db")).unwrap();
    let alice = db.get_customer_details("C001", &["name", "email"]).unwrap();
    assert_eq!(
        (alice.name.as_str(), alice.email.as_str()),
        ("Alice Anders", "alice@example.com")
    );
    for file in FILES {
        assert!(
            dir.path().join("data").join(file).is_file(),
            "{file} missing"
        );
    }
}

#[test]
fn init_refuses_an_existing_database_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["init", "--db", "desk.db", "--data-dir", "data"];
    assert!(desk(dir.path(), &args).status.success());
    Db::open(dir.path().join("desk.db"))
        .unwrap()
        .delete_customer("C002")
        .unwrap();

    let again = desk(dir.path(), &args);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(again.stdout.is_empty());
    // Refused means untouched: the deletion is still there.
    let db = Db::open(dir.path().join("desk.db")).unwrap();
    assert_eq!(
        db.get_customer_details("C002", &["id"])
            .unwrap_err()
            .code()
            .as_str(),
        "not_found"
    );

    let forced = desk(dir.path(), &[&args[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(
        db.get_customer_details("C002", &["name"]).unwrap().name,
        "Bob Brown"
    );
}

#[test]
fn an_unknown_user_is_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        desk(
            dir.path(),
            &["init", "--db", "desk.db", "--data-dir", "data"]
        )
        .status
        .success()
    );
    let db = ["--db", "desk.db"];
    let data = ["--data-dir", "data"];
    let user = ["--user", "mallory"];
    for args in [
        [&["session"][..], &db, &data, &user].concat(),
        [&["serve"][..], &db, &data, &user].concat(),
        [&["schemas", "--provider", "openai"][..], &db, &user].concat(),
    ] {
        let out = desk(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("unknown user `mallory`"),
            "{}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
}

#[test]
fn the_default_database_and_data_folder_are_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    // The user lookup needs the database, so it is created and seeded before the refusal.
    let out = desk(dir.path(), &["session", "--user", "mallory"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let db = Db::open(dir.path().join("support-desk.db")).unwrap();
    assert!(db.find_user("alice").unwrap().is_some());
    for file in FILES {
        assert!(
            dir.path().join("support-desk-data").join(file).is_file(),
            "{file} missing"
        );
    }
}

#[test]
fn an_unknown_provider_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = desk(dir.path(), &["schemas", "--provider", "cohere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("openai-responses"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("support-desk.db").exists());
}
