//! The sandbox's cost over starting the bare interpreter: `print(1)` in python3 and node, run
//! bare (the same script file, executable and flags, unconfined) and through `tool_sandbox::run`.
//!
//! `cargo bench -p tool-sandbox --bench overhead` prints, besides criterion's report, the p50
//! and p95 of every run of each case (50 samples or more) and the sandbox's overhead at each.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tool_sandbox::{Language, Limits, run};

/// The interpreter's real executable (not a pyenv shim on `PATH`), as the sandbox runs it.
fn executable(language: Language) -> String {
    let (program, args): (&str, &[&str]) = match language {
        Language::Python => ("python3", &["-c", "import sys; print(sys.executable)"]),
        Language::JavaScript => ("node", &["-p", "process.execPath"]),
    };
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("the interpreter starts");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The same script file, run by the same executable with the same flags, unconfined.
fn bare(executable: &str, language: Language, script: &std::path::Path) -> Duration {
    let mut command = Command::new(executable);
    if language == Language::Python {
        command.args(["-I", "-B"]);
    }
    let start = Instant::now();
    let out = command
        .arg(script)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("the interpreter starts");
    let took = start.elapsed();
    assert_eq!(out.stdout, b"1\n");
    took
}

fn sandboxed(runtime: &tokio::runtime::Runtime, language: Language) -> Duration {
    let start = Instant::now();
    let out = runtime
        .block_on(run(language, code(language), &Limits::default()))
        .expect("the sandbox runs here");
    let took = start.elapsed();
    assert_eq!(out.stdout, "1\n", "stderr: {}", out.stderr);
    took
}

fn code(language: Language) -> &'static str {
    match language {
        Language::Python => "print(1)",
        Language::JavaScript => "console.log(1)",
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut group = c.benchmark_group("start");
    group.sample_size(50);
    group.warm_up_time(Duration::from_secs(1));
    let mut report = Vec::new();
    for (name, language) in [
        ("python3", Language::Python),
        ("node", Language::JavaScript),
    ] {
        // One run first, so that locating the interpreter is not counted.
        sandboxed(&runtime, language);
        let executable = executable(language);
        let dir = tempfile::tempdir().expect("a temporary folder");
        let script = dir.path().join("main");
        std::fs::write(&script, code(language)).expect("the script is written");
        let times: [Mutex<Vec<Duration>>; 2] = Default::default();
        group.bench_function(format!("{name}/bare"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let took = bare(&executable, language, &script);
                    times[0].lock().unwrap().push(took);
                    total += took;
                }
                total
            })
        });
        group.bench_function(format!("{name}/sandboxed"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let took = sandboxed(&runtime, language);
                    times[1].lock().unwrap().push(took);
                    total += took;
                }
                total
            })
        });
        let [bare_times, sandbox_times] = times.map(|t| {
            let mut t = t.into_inner().unwrap();
            t.sort();
            t
        });
        report.push((name, bare_times, sandbox_times));
    }
    group.finish();
    for (name, bare, sandbox) in report {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (b50, b95) = (percentile(&bare, 0.5), percentile(&bare, 0.95));
        let (s50, s95) = (percentile(&sandbox, 0.5), percentile(&sandbox, 0.95));
        println!(
            "{name}: bare p50 {:.1} ms p95 {:.1} ms ({} runs); sandboxed p50 {:.1} ms p95 {:.1} ms ({} runs); overhead p50 {:.1} ms p95 {:.1} ms",
            ms(b50),
            ms(b95),
            bare.len(),
            ms(s50),
            ms(s95),
            sandbox.len(),
            ms(s50) - ms(b50),
            ms(s95) - ms(b95),
        );
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
