//! The sandbox: happy paths, and every escape named in issues 5 and 9 refused.
//!
//! These tests need python3 and node on `PATH` and a kernel with Landlock ABI 6, seccomp filters
//! and the rlimits; CI runs on such machines. A missing piece fails the test with the reason,
//! it is never skipped.

use std::net::TcpListener;
use std::time::Duration;

use tool_sandbox::{Language, Limits, Output, ResourceControl, run};

async fn python(code: &str) -> Output {
    run_ok(Language::Python, code, &Limits::default()).await
}

async fn node(code: &str) -> Output {
    run_ok(Language::JavaScript, code, &Limits::default()).await
}

async fn run_ok(language: Language, code: &str, limits: &Limits) -> Output {
    match run(language, code, limits).await {
        Ok(output) => output,
        Err(e) => panic!("the sandbox could not run {language:?} here: {e}"),
    }
}

#[tokio::test]
async fn python_prints() {
    let out = python("print('hello', 6 * 7)").await;
    assert_eq!(out.stdout, "hello 42\n");
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.timed_out && !out.stdout_truncated);
}

#[tokio::test]
async fn node_prints() {
    let out = node("console.log('hello', 6 * 7)").await;
    assert_eq!(out.stdout, "hello 42\n", "stderr: {}", out.stderr);
    assert_eq!(out.exit_code, Some(0));
}

#[tokio::test]
async fn exit_codes_and_stderr_come_back() {
    let out = python("import sys\nprint('bad', file=sys.stderr)\nsys.exit(3)").await;
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.stderr, "bad\n");
    let out = node("console.error('worse'); process.exit(4)").await;
    assert_eq!(out.exit_code, Some(4));
    assert_eq!(out.stderr, "worse\n");
    let out = python("raise ValueError('boom')").await;
    assert_eq!(out.exit_code, Some(1));
    assert!(out.stderr.contains("ValueError: boom"), "{}", out.stderr);
}

#[tokio::test]
async fn scratch_is_writable_and_removed_afterwards() {
    let out = python(
        "import os\nopen('notes.txt', 'w').write('kept')\nprint(open('notes.txt').read())\nprint(os.getcwd())",
    )
    .await;
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("kept"), "stderr: {}", out.stderr);
    let scratch = lines.next().expect("the scratch folder");
    assert!(
        !std::path::Path::new(scratch).exists(),
        "{scratch} survived the run"
    );
}

#[tokio::test]
async fn the_application_database_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("support-desk.db");
    std::fs::write(&db, "SECRET-ROWS").unwrap();
    let db = db.to_str().unwrap();

    let out = python(&format!(
        "try:\n    print(open({db:?}).read())\nexcept OSError as e:\n    print('refused', e.errno)"
    ))
    .await;
    assert!(!out.stdout.contains("SECRET-ROWS"), "{out:?}");
    assert_eq!(out.stdout.trim(), "refused 13", "{out:?}"); // EACCES

    let out = node(&format!(
        "try {{ console.log(require('fs').readFileSync({db:?}, 'utf8')) }} catch (e) {{ console.log('refused', e.code) }}"
    ))
    .await;
    assert!(!out.stdout.contains("SECRET-ROWS"), "{out:?}");
    assert_eq!(out.stdout.trim(), "refused EACCES", "{out:?}");

    // Listing its folder is refused too.
    let dir_name = dir.path().to_str().unwrap();
    let out = python(&format!(
        "import os\ntry:\n    print(os.listdir({dir_name:?}))\nexcept OSError as e:\n    print('refused', e.errno)"
    ))
    .await;
    assert_eq!(out.stdout.trim(), "refused 13", "{out:?}");
}

#[tokio::test]
async fn host_files_outside_the_interpreter_cannot_be_read() {
    let out = python(
        "for p in ['/proc/self/environ', '/etc/shadow', '/etc/hostname', '/root']:\n    try:\n        open(p).read(); print('read', p)\n    except OSError as e:\n        print('refused', p, e.errno)",
    )
    .await;
    assert!(!out.stdout.contains("read "), "{out:?}");
    assert_eq!(out.stdout.matches("refused").count(), 4, "{out:?}");
}

#[tokio::test]
async fn nothing_outside_scratch_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("planted.txt");
    let target_str = target.to_str().unwrap();
    let tmp_target = format!("/tmp/planted-by-sandbox-{}.txt", std::process::id());
    let usr_target = format!("/usr/planted-by-sandbox-{}.txt", std::process::id());
    let out = python(&format!(
        "for p in [{target_str:?}, {tmp_target:?}, {usr_target:?}]:\n    try:\n        open(p, 'w').write('x'); print('wrote', p)\n    except OSError as e:\n        print('refused', e.errno)"
    ))
    .await;
    assert!(!out.stdout.contains("wrote"), "{out:?}");
    assert_eq!(out.stdout.matches("refused").count(), 3, "{out:?}");
    assert!(!target.exists());
    assert!(!std::path::Path::new(&tmp_target).exists());
    assert!(!std::path::Path::new(&usr_target).exists());
}

#[tokio::test]
async fn a_local_listener_cannot_be_reached() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();

    let out = python(&format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('connected')\nexcept OSError as e:\n    print('refused', e.errno)"
    ))
    .await;
    assert!(out.stdout.starts_with("refused"), "{out:?}");

    let out = node(&format!(
        "require('net').connect({port}, '127.0.0.1').on('connect', () => console.log('connected')).on('error', e => console.log('refused', e.code))"
    ))
    .await;
    assert!(out.stdout.starts_with("refused"), "{out:?}");

    // Had either connected, the listener would hold a pending connection.
    assert!(
        listener.accept().is_err(),
        "a connection reached the listener"
    );
}

#[tokio::test]
async fn no_process_outlives_the_run() {
    let marker = format!("sandbox-child-marker-{}", std::process::id());
    let code = format!(
        r#"import os, subprocess, sys
results = []
try:
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.execv('/usr/bin/sleep', ['sleep', '600', '{marker}'])
    results.append('forked %d' % pid)
except OSError as e:
    results.append('fork refused %d' % e.errno)
try:
    p = subprocess.Popen(['/usr/bin/sleep', '600', '{marker}'], start_new_session=True)
    results.append('spawned %d' % p.pid)
except OSError as e:
    results.append('spawn refused %d' % e.errno)
print('\n'.join(results))
"#
    );
    let out = python(&code).await;
    assert!(out.stdout.contains("fork refused 1"), "{out:?}"); // EPERM
    assert!(out.stdout.contains("spawn refused"), "{out:?}");

    let out = node(&format!(
        "try {{ require('child_process').spawn('/usr/bin/sleep', ['600', '{marker}'], {{ detached: true }}).on('error', e => console.log('spawn refused', e.code)) }} catch (e) {{ console.log('spawn refused', e.code) }}"
    ))
    .await;
    assert!(out.stdout.contains("spawn refused"), "{out:?}");

    assert_no_process_with(&marker);
}

fn assert_no_process_with(marker: &str) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(
            !cmdline.contains(marker),
            "process {:?} survived the run: {cmdline}",
            entry.file_name()
        );
    }
}

#[tokio::test]
async fn six_gib_cannot_be_allocated() {
    let out = python(
        "try:\n    b = bytearray(6 * 1024**3); print('allocated', len(b))\nexcept MemoryError:\n    print('refused')",
    )
    .await;
    assert_eq!(out.stdout.trim(), "refused", "{out:?}");

    let out = node(
        "try { const b = new ArrayBuffer(6 * 1024 ** 3); console.log('allocated', b.byteLength) } catch (e) { console.log('refused', e.name) }",
    )
    .await;
    assert!(out.stdout.starts_with("refused"), "{out:?}");
}

#[tokio::test]
async fn spinning_forever_is_killed_at_the_time_limit() {
    let limits = Limits {
        time: Duration::from_secs(2),
        ..Limits::default()
    };
    let out = run_ok(
        Language::Python,
        "print('spinning', flush=True)\nwhile True: pass",
        &limits,
    )
    .await;
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, None);
    assert_eq!(out.signal, Some(9));
    assert_eq!(out.stdout, "spinning\n");

    let out = run_ok(Language::JavaScript, "for (;;) {}", &limits).await;
    assert!(out.timed_out, "{out:?}");
}

#[tokio::test]
async fn cpu_time_is_capped_even_within_the_wall_clock() {
    let limits = Limits {
        time: Duration::from_secs(30),
        cpu_secs: 1,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let out = run_ok(Language::Python, "while True: pass", &limits).await;
    assert!(started.elapsed() < Duration::from_secs(20), "{out:?}");
    // SIGXCPU at the soft limit (reported as a timeout: it is one), SIGKILL at the hard one
    // for code that ignores SIGXCPU.
    match out.signal {
        Some(24) => assert!(out.timed_out, "{out:?}"),
        Some(9) => assert!(!out.timed_out, "{out:?}"),
        _ => panic!("not stopped by the CPU limit: {out:?}"),
    }
}

#[tokio::test]
async fn a_hundred_thousand_characters_are_capped() {
    let out = python("import sys\nsys.stdout.write('x' * 100_000)\nsys.stderr.write('e' * 100_000)\nprint()\nprint('done', file=sys.stderr)").await;
    assert_eq!(out.stdout.chars().count(), 5_000);
    assert!(out.stdout_truncated);
    assert_eq!(out.stderr.chars().count(), 2_000);
    assert!(out.stderr_truncated);
    assert_eq!(out.exit_code, Some(0), "the writer was blocked or killed");

    let out = node("process.stdout.write('é'.repeat(100000))").await;
    assert_eq!(out.stdout.chars().count(), 5_000);
    assert!(out.stdout.chars().all(|c| c == 'é'));
    assert!(out.stdout_truncated);
    assert_eq!(out.exit_code, Some(0));

    let out = python("print('x' * 4_999)").await;
    assert_eq!(out.stdout.chars().count(), 5_000);
    assert!(!out.stdout_truncated);
}

#[tokio::test]
async fn the_environment_is_empty() {
    // SAFETY: this test binary's other tests do not read this variable; setting it before the
    // sandbox runs is the point: the child must not inherit it.
    unsafe { std::env::set_var("SANDBOX_TEST_SECRET", "hunter2-secret-value") };
    let out =
        python("import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read())")
            .await;
    assert!(!out.stdout.contains("hunter2"), "{out:?}");
    // Python sets LC_CTYPE itself when it finds no locale (PEP 538); nothing else may appear.
    assert_eq!(out.stdout.lines().next(), Some("['LC_CTYPE']"), "{out:?}");
    assert!(out.stderr.contains("PermissionError"), "{out:?}");
    let out = node("console.log(JSON.stringify(process.env))").await;
    assert!(!out.stdout.contains("hunter2"), "{out:?}");
    assert_eq!(out.stdout.trim(), "{}", "{out:?}");
}

#[tokio::test]
async fn the_host_cannot_be_signalled() {
    let host = std::process::id();
    let out = python(&format!(
        "import os, signal\ntry:\n    os.kill({host}, 0); print('reachable')\nexcept OSError as e:\n    print('refused', e.errno)"
    ))
    .await;
    // ESRCH: in its own PID namespace, the host's pid names no process at all.
    assert_eq!(out.stdout.trim(), "refused 3", "{out:?}");
}

/// Clears close-on-exec, as a careless host (or a socket-activated one) leaves a descriptor.
fn inheritable(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl on a descriptor this test owns; no memory is passed.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    assert_eq!(ret, 0, "fcntl failed");
}

#[tokio::test]
async fn descriptors_the_host_left_open_do_not_reach_the_code() {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    let mut secret = tempfile::NamedTempFile::new().unwrap();
    writeln!(secret, "TOP-SECRET-HOST-FILE").unwrap();
    let file = std::fs::File::open(secret.path()).unwrap();
    inheritable(file.as_raw_fd());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    inheritable(stream.as_raw_fd());

    let (file_fd, sock_fd) = (file.as_raw_fd(), stream.as_raw_fd());
    let out = python(&format!(
        r#"import os, socket
try:
    print('read', os.read({file_fd}, 100))
except OSError as e:
    print('file refused', e.errno)
try:
    socket.socket(fileno={sock_fd}).sendall(b'escaped')
    print('sent')
except OSError as e:
    print('socket refused', e.errno)"#
    ))
    .await;
    assert!(out.stdout.contains("file refused"), "{out:?}");
    assert!(out.stdout.contains("socket refused"), "{out:?}");
    assert!(!out.stdout.contains("TOP-SECRET"), "{out:?}");

    // Nothing arrived on the host's side of the connection.
    accepted.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    let got = std::io::Read::read(&mut accepted, &mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the code wrote to the host's socket: {got:?}"
    );
}

#[tokio::test]
async fn the_code_cannot_fill_the_disk() {
    // Many files, each under the per-file limit: only a cap on the whole folder stops this.
    let out = python(
        r#"import os
chunk = b'x' * (1 << 20)
total = 0
try:
    for i in range(100000):
        with open('f%d' % i, 'wb') as f:
            for _ in range(8):
                f.write(chunk)
                total += 1
except OSError as e:
    print('stopped', e.errno, total)
else:
    print('wrote', total)"#,
    )
    .await;
    let mut words = out.stdout.split_whitespace();
    assert_eq!(words.next(), Some("stopped"), "{out:?}");
    assert_eq!(words.next(), Some("28"), "ENOSPC expected: {out:?}");
    let mib: u64 = words.next().unwrap().parse().unwrap();
    assert!(mib <= 64, "{mib} MiB written: {out:?}");
}

#[tokio::test]
async fn host_files_keep_their_owner_mode_times_and_attributes() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "host data").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = std::fs::metadata(&victim).unwrap();
    let path = victim.display();
    let out = python(&format!(
        r#"import os
for name, call in [
    ('chmod', lambda: os.chmod('{path}', 0o4777)),
    ('chown', lambda: os.chown('{path}', 65534, 65534)),
    ('utime', lambda: os.utime('{path}', (0, 0))),
    ('setxattr', lambda: os.setxattr('{path}', 'user.x', b'1')),
    # A file it may read (its own script, the host's): opened, then changed through the handle.
    ('fchmod readable', lambda: os.fchmod(os.open(__file__, os.O_RDONLY), 0o4777)),
]:
    try:
        call(); print(name, 'done')
    except OSError as e:
        print(name, 'refused', e.errno)"#
    ))
    .await;
    for name in ["chmod", "chown", "utime", "setxattr", "fchmod readable"] {
        assert!(
            out.stdout.contains(&format!("{name} refused")),
            "{name} was not refused: {out:?}"
        );
    }
    let after = std::fs::metadata(&victim).unwrap();
    assert_eq!(after.permissions().mode(), before.permissions().mode());
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
}

#[tokio::test]
async fn a_scratch_of_no_size_is_refused() {
    let limits = Limits {
        scratch_bytes: 0,
        ..Limits::default()
    };
    assert!(run(Language::Python, "print(1)", &limits).await.is_err());
}

// Issue 9: the code reaches no other process and nothing of the machine beyond its run.

fn host_nofile() -> (u64, u64) {
    rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap()
}

#[tokio::test]
async fn another_process_s_limits_can_be_neither_read_nor_changed() {
    let host = std::process::id();
    let before = host_nofile();
    let out = python(&format!(
        r#"import resource
for pid in ({host}, 1):
    for args in ((), ((1, 1),)):
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, *args); print('reached', pid)
        except OSError as e:
            print('refused', e.errno)
resource.prlimit(0, resource.RLIMIT_FSIZE, (0, 0))
print('own', resource.getrlimit(resource.RLIMIT_FSIZE))"#
    ))
    .await;
    // The host's pid names nothing here (and seccomp refuses any pid but 0, its own pid too).
    assert_eq!(
        out.stdout, "refused 1\nrefused 1\nrefused 1\nrefused 1\nown (0, 0)\n",
        "{out:?}"
    );
    assert_eq!(host_nofile(), before);
}

#[tokio::test]
async fn no_host_process_is_visible() {
    let out = python(
        r#"import os
seen = []
for pid in range(2, 1 << 15):
    try:
        os.kill(pid, 0); seen.append(pid)
    except ProcessLookupError:
        pass
    except PermissionError:
        seen.append(pid)
print('pid', os.getpid(), 'seen', seen)
try:
    print(os.listdir('/proc')[:3])
except OSError as e:
    print('proc refused', e.errno)"#,
    )
    .await;
    assert_eq!(out.stdout, "pid 1 seen []\nproc refused 13\n", "{out:?}");
}

#[tokio::test]
async fn nothing_outside_can_be_traced_or_signalled() {
    let host = std::process::id();
    let out = python(&format!(
        r#"import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    ret = libc.syscall(*args)
    print(name, ret, ctypes.get_errno())
call('ptrace', 101, 16, {host}, 0, 0)   # PTRACE_ATTACH
call('pidfd_open', 434, {host}, 0)
call('kcmp', 312, {host}, 1, 0, 0, 0)
call('process_vm_readv', 310, {host}, 0, 0, 0, 0, 0)
call('sched_setaffinity', 203, {host}, 0, 0)
call('setpriority', 141, 0, {host}, 19)
call('ioprio_set', 251, 1, {host}, 0)
try:
    os.kill(-1, signal.SIGKILL); print('kill -1 reached someone')
except OSError as e:
    print('kill -1', e.errno)"#
    ))
    .await;
    assert_eq!(
        out.stdout,
        "ptrace -1 1\npidfd_open -1 1\nkcmp -1 1\nprocess_vm_readv -1 1\n\
         sched_setaffinity -1 1\nsetpriority -1 1\nioprio_set -1 1\nkill -1 3\n",
        "{out:?}"
    );
}

/// The host's System V shared memory segments, as `(key, size)`.
fn host_shm() -> Vec<(String, String)> {
    std::fs::read_to_string("/proc/sysvipc/shm")
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0].to_owned(), fields[3].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn sysv_ipc_objects_neither_reach_the_host_nor_outlive_the_run() {
    // The host's own segment, of the same uid: the code must not find it.
    let key: libc::key_t = 0x5eed_0009;
    // SAFETY: shmget takes no pointer.
    let host_segment = unsafe { libc::shmget(key, 4096, libc::IPC_CREAT | 0o600) };
    assert!(host_segment >= 0, "{}", std::io::Error::last_os_error());
    let out = python(&format!(
        r#"import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print('host segment', libc.shmget({key}, 0, 0), ctypes.get_errno())
print('own segment', libc.shmget(0, 1000003, 0o1600) >= 0)
print('own queue', libc.msgget(0x5eed0019, 0o1600) >= 0)"#
    ))
    .await;
    let left = host_shm();
    let queues = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    // SAFETY: IPC_RMID on the segment this test made.
    unsafe { libc::shmctl(host_segment, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(
        out.stdout, "host segment -1 2\nown segment True\nown queue True\n",
        "{out:?}"
    );
    assert!(
        !left.iter().any(|(_, size)| size == "1000003"),
        "the run's segment outlived it: {left:?}"
    );
    let key_text = 0x5eed0019_i64.to_string();
    assert!(
        !queues
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&key_text)),
        "the run's queue outlived it: {queues}"
    );
}

#[tokio::test]
async fn threads_are_bounded_by_the_limit() {
    let limits = Limits {
        max_processes: 16,
        ..Limits::default()
    };
    let out = run_ok(
        Language::Python,
        r#"import threading, time
started = 0
try:
    for _ in range(500):
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print(started, flush=True)
import os; os._exit(0)"#,
        &limits,
    )
    .await;
    let started: u64 = out.stdout.trim().parse().expect("a count");
    assert!(started < 16, "{started} threads: {out:?}");
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        assert_ne!(out.resources, ResourceControl::Rlimits, "{out:?}");
    }
}

/// Every thread on the machine whose name is `name`.
fn threads_named(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for process in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(tasks) = std::fs::read_dir(process.path().join("task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name) {
                found.push(task.path().display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn no_thread_outlives_a_run_that_timed_out() {
    let marker = format!("sbx{:08x}", std::process::id() ^ 0x5a5a_5a5a);
    let limits = Limits {
        time: Duration::from_secs(2),
        ..Limits::default()
    };
    let out = run_ok(
        Language::Python,
        &format!(
            r#"import ctypes, threading, time, os
libc = ctypes.CDLL(None)
def named():
    libc.prctl(15, b'{marker}', 0, 0, 0)   # PR_SET_NAME
    time.sleep(60)
for _ in range(4):
    threading.Thread(target=named).start()
try:
    os.fork()
except OSError as e:
    print('fork refused', e.errno, flush=True)
named()"#
        ),
        &limits,
    )
    .await;
    assert!(out.timed_out, "{out:?}");
    assert_eq!(out.stdout, "fork refused 1\n", "{out:?}");
    let left = threads_named(&marker);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn the_host_s_name_is_not_seen() {
    let out = python("import socket; print(socket.gethostname())").await;
    assert_eq!(out.stdout, "sandbox\n", "{out:?}");
}
