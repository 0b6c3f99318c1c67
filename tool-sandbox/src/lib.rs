//! Running untrusted code: an interpreter (python3, node) confined the way a container runtime
//! confines a container, by the kernel.
//!
//! Every run gets, layered so that no single mechanism is the only wall:
//! - **namespaces**: its own user namespace, in which the code runs as uid and gid 65534 with no
//!   capability (even when the host is root), and its own PID, IPC, UTS, network (no interface
//!   up), mount and cgroup namespaces. The interpreter is its PID namespace's init: it can name
//!   no host process, its System V IPC objects die with it, and killing it ends everything in
//!   the namespace.
//! - **resources**: a cgroup of the run's own (v2, or v1 `memory`/`pids`/`cpu`) bounding memory,
//!   processes and threads, and CPU to one core; rlimits on address space, CPU time, open files,
//!   file size and processes. [`Output::resources`] says which applied. A root host must give a
//!   cgroup: `RLIMIT_NPROC` does not bind the host's root, so without one the run is refused.
//! - **file system**: Landlock (ABI 6 or newer). Read and execute beneath the interpreter's
//!   prefix, `/usr`, `/lib*` and a few named files (`/etc/ld.so.cache`, `/dev/null`,
//!   `/dev/urandom`...); read and write only in a fresh scratch folder. Nothing else is
//!   visible: not the application's database, not `/proc`, not `/tmp`.
//! - **disk**: the scratch folder is a `tmpfs` of [`Limits::scratch_bytes`] mounted in the
//!   run's mount namespace: the code can fill it, never the host's disk.
//! - **processes**: seccomp refuses `fork`, `vfork` and any `clone` without `CLONE_THREAD`.
//! - **the wider kernel**: seccomp refuses every call that reaches another process (`ptrace`,
//!   `process_vm_*`, `kcmp`, `pidfd_*`, `prlimit64`, `sched_set*`, `setpriority`, `ioprio_set`
//!   on anything but itself) or the kernel (`bpf`, `keyctl`, `mount`, `unshare`, modules,
//!   `kexec`, `reboot`, `swapon`, `acct`, `io_uring`...), and `socket()` for every family.
//! - **privileges**: no-new-privs, an empty capability bounding set, `SECBIT_NOROOT`.
//! - **signals and abstract sockets**: Landlock scoping, beside the PID namespace.
//! - a wall-clock limit, an empty environment, stdin from `/dev/null`, capped stdout and stderr.
//!
//! If the kernel lacks one of these, [`run`] returns [`SandboxError::Unsupported`] naming it and
//! runs nothing: there is no degraded mode.

mod cgroup;

pub use cgroup::ResourceControl;
use cgroup::RunCgroup;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::OnceCell;

/// The interpreter to run the code with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// `python3`, found on the host's `PATH`, run isolated (`-I -B`).
    Python,
    /// `node`, found on the host's `PATH`.
    JavaScript,
}

impl Language {
    fn script_name(self) -> &'static str {
        match self {
            Language::Python => "main.py",
            Language::JavaScript => "main.js",
        }
    }

    /// Asks the interpreter on the host's `PATH` for its real executable: `PATH` may hold a shim
    /// (pyenv, asdf) that needs an environment the sandbox does not give.
    fn probe(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Language::Python => ("python3", &["-c", "import sys; print(sys.executable)"]),
            Language::JavaScript => ("node", &["-p", "process.execPath"]),
        }
    }
}

/// Resource limits of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time; on expiry the run's whole PID namespace is killed. Default 10 s.
    pub time: Duration,
    /// Address space (`RLIMIT_AS`) and, with a cgroup, memory (`memory.max`), in bytes.
    /// Default 2 GiB: node reserves much more virtual memory than it uses, and starts with
    /// 1 GiB or more; WebAssembly needs far more.
    pub memory_bytes: u64,
    /// CPU time (`RLIMIT_CPU`), in seconds. Default 10.
    pub cpu_secs: u64,
    /// Open file descriptors (`RLIMIT_NOFILE`). Default 64.
    pub max_open_files: u64,
    /// Everything the code may write, all files together (the scratch `tmpfs`'s size), in
    /// bytes. Default 64 MiB.
    pub scratch_bytes: u64,
    /// Largest file the code may write (`RLIMIT_FSIZE`), in bytes. Default 16 MiB.
    pub max_file_bytes: u64,
    /// Processes and threads: `RLIMIT_NPROC`, counted in the run's user namespace, and with a
    /// cgroup `pids.max`. Creating a second process is refused by seccomp besides, so this
    /// bounds threads. Default 64.
    pub max_processes: u64,
    /// Characters of stdout kept. Default 5,000.
    pub max_stdout: usize,
    /// Characters of stderr kept. Default 2,000.
    pub max_stderr: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(10),
            memory_bytes: 2 << 30,
            cpu_secs: 10,
            max_open_files: 64,
            scratch_bytes: 64 << 20,
            max_file_bytes: 16 << 20,
            max_processes: 64,
            max_stdout: 5_000,
            max_stderr: 2_000,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output, at most [`Limits::max_stdout`] characters (invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard error, at most [`Limits::max_stderr`] characters (invalid UTF-8 replaced).
    pub stderr: String,
    /// The exit code; `None` when the process was ended by a signal.
    pub exit_code: Option<i32>,
    /// The signal that ended the process, if one did (`SIGKILL` on timeout, `SIGXCPU`...).
    pub signal: Option<i32>,
    /// The time limit (wall clock, or CPU time: `SIGXCPU`) expired and the process was killed.
    pub timed_out: bool,
    /// Stdout was longer than the cap and was cut.
    pub stdout_truncated: bool,
    /// Stderr was longer than the cap and was cut.
    pub stderr_truncated: bool,
    /// What bounded memory, processes and CPU: a cgroup (v2 or v1) or the rlimits alone.
    pub resources: ResourceControl,
}

/// Why code could not be run. Nothing ran in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel lacks a confinement mechanism; the message names it.
    #[error("the sandbox cannot confine code on this system: {0}")]
    Unsupported(String),
    /// The interpreter is not installed on the host's `PATH`, or did not answer.
    #[error("the {language:?} interpreter is not available: {detail}")]
    InterpreterMissing {
        /// Which interpreter.
        language: Language,
        /// What went wrong looking for it.
        detail: String,
    },
    /// Setting up, starting, or cleaning up after the run failed.
    #[error("the sandbox failed: {0}")]
    Io(#[from] io::Error),
}

/// The Landlock ABI required: 6 (Linux 6.12) is the first that scopes signals, without which
/// code running as the host's user could kill the host.
const LANDLOCK_ABI: ABI = ABI::V6;

/// How long the supervising process has to kill and reap the code once time is up.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// How long the output pipes may stay open once the process has ended.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Runs `code` with `language`'s interpreter under every confinement listed in the module docs.
///
/// A non-zero exit, a crash, a timeout or an over-long output are all results, not errors.
pub async fn run(language: Language, code: &str, limits: &Limits) -> Result<Output, SandboxError> {
    // A tmpfs of size 0 has no limit at all.
    if limits.scratch_bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Limits::scratch_bytes must be more than zero",
        )
        .into());
    }
    check_seccomp()?;
    let interpreter = interpreter(language).await?;
    let cgroup = RunCgroup::create(limits);
    // SAFETY: geteuid cannot fail and touches no memory.
    if cgroup.is_none() && unsafe { libc::geteuid() } == 0 {
        return Err(SandboxError::Unsupported(
            "a cgroup (v2 with the memory and pids controllers delegated, or v1 memory and pids) for a host running as root, which RLIMIT_NPROC does not bind".into(),
        ));
    }
    let resources = cgroup.as_ref().map_or(ResourceControl::Rlimits, |c| c.kind);
    let result = run_in(language, code, limits, interpreter, cgroup.as_ref()).await;
    if let Some(cgroup) = cgroup {
        cgroup.remove().await;
    }
    result.map(|output| Output {
        resources,
        ..output
    })
}

async fn run_in(
    language: Language,
    code: &str,
    limits: &Limits,
    interpreter: &Interpreter,
    cgroup: Option<&RunCgroup>,
) -> Result<Output, SandboxError> {
    // The script lives beside the scratch folder, not in it: the scratch `tmpfs` is mounted
    // over the folder, and would hide it.
    let base = tempfile::Builder::new().prefix("sandbox-").tempdir()?;
    let code_dir = base.path().join("code");
    let scratch_dir = base.path().join("scratch");
    std::fs::create_dir(&code_dir)?;
    std::fs::create_dir(&scratch_dir)?;
    let script = code_dir.join(language.script_name());
    std::fs::write(&script, code)?;

    let (ruleset, scratch_access) = landlock_ruleset(interpreter, &code_dir, &scratch_dir)?;
    let confinement = Arc::new(Confinement {
        ruleset_fd: ruleset.as_raw_fd(),
        filters: seccomp_filters()?,
        limits: limits.clone(),
        last_cap: last_capability(),
        scratch: ScratchMount::new(&scratch_dir, limits.scratch_bytes, scratch_access)?,
        cgroup_procs: cgroup.map(|c| c.procs.clone()).unwrap_or_default(),
    });

    let mut command = Command::new(&interpreter.executable);
    if language == Language::Python {
        command.args(["-I", "-B"]);
    }
    command
        .arg(&script)
        .env_clear()
        .current_dir(&scratch_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure only makes system calls on memory prepared
    // beforehand (see `Confinement::apply`); it allocates nothing and takes no locks.
    unsafe {
        command.pre_exec(move || confinement.apply());
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        // The child could not confine itself: the kernel (or a container's policy) refused a
        // namespace, a mount, Landlock or seccomp. Nothing ran.
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::Unsupported
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::StorageFull => SandboxError::Unsupported(format!(
            "a confinement step was refused (user, PID, IPC, UTS, network and mount namespaces; joining the cgroup; Landlock; seccomp): {e}"
        )),
        _ => SandboxError::Io(e),
    })?;
    drop(ruleset);
    let pid = child.id().and_then(|id| i32::try_from(id).ok());

    let stdout = child.stdout.take().map(|out| {
        let cap = limits.max_stdout;
        tokio::spawn(read_capped(out, cap))
    });
    let stderr = child.stderr.take().map(|err| {
        let cap = limits.max_stderr;
        tokio::spawn(read_capped(err, cap))
    });

    let (status, timed_out) = match tokio::time::timeout(limits.time, child.wait()).await {
        Ok(status) => (status?, false),
        Err(_) => {
            // The process between the host and the code kills the code (its PID namespace's
            // init, so the whole namespace) on SIGTERM, and reaps it before it exits itself: no
            // zombie is left to the host's init. Should it not exit, the whole group is killed.
            // The child is not reaped yet, so its pid (and group id) cannot have been reused.
            if let Some(pid) = pid {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            match tokio::time::timeout(KILL_GRACE, child.wait()).await {
                Ok(status) => (status?, true),
                Err(_) => {
                    if let Some(pid) = pid {
                        // SAFETY: killpg has no memory-safety preconditions.
                        unsafe { libc::killpg(pid, libc::SIGKILL) };
                    }
                    child.start_kill().ok();
                    (child.wait().await?, true)
                }
            }
        }
    };

    // The pipes close when the code ends, since it cannot have descendants. Should one ever
    // escape and hold them, fail rather than wait for it.
    let (mut stdout, mut stderr) = (stdout, stderr);
    let outputs =
        async { Ok::<_, io::Error>((collect(&mut stdout).await?, collect(&mut stderr).await?)) };
    let collected = tokio::time::timeout(PIPE_GRACE, outputs).await;
    let Ok(collected) = collected else {
        stdout.iter().chain(&stderr).for_each(|task| task.abort());
        return Err(
            io::Error::other("the output pipes stayed open after the process ended").into(),
        );
    };
    let ((stdout, stdout_truncated), (stderr, stderr_truncated)) = collected?;
    remove_scratch(base);

    use std::os::unix::process::ExitStatusExt;
    // The CPU-time limit is a time limit too: a busy loop meets it about when it meets the
    // wall-clock one, and which fires first must not change the answer.
    let out_of_cpu = status.signal() == Some(libc::SIGXCPU);
    Ok(Output {
        stdout,
        stderr,
        exit_code: status.code(),
        signal: status.signal(),
        timed_out: timed_out || out_of_cpu,
        stdout_truncated,
        stderr_truncated,
        resources: ResourceControl::Rlimits,
    })
}

/// The real interpreter binary and the folder it was installed under.
#[derive(Debug)]
struct Interpreter {
    executable: PathBuf,
    prefix: PathBuf,
}

async fn interpreter(language: Language) -> Result<&'static Interpreter, SandboxError> {
    static PYTHON: OnceCell<Interpreter> = OnceCell::const_new();
    static NODE: OnceCell<Interpreter> = OnceCell::const_new();
    let cell = match language {
        Language::Python => &PYTHON,
        Language::JavaScript => &NODE,
    };
    cell.get_or_try_init(|| locate(language)).await
}

async fn locate(language: Language) -> Result<Interpreter, SandboxError> {
    let missing = |detail: String| SandboxError::InterpreterMissing { language, detail };
    let (program, args) = language.probe();
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| missing(format!("`{program}` could not be started: {e}")))?;
    if !output.status.success() {
        return Err(missing(format!("`{program}` failed: {}", output.status)));
    }
    let reported = String::from_utf8(output.stdout)
        .map_err(|_| missing(format!("`{program}` reported a non-UTF-8 path")))?;
    let executable = std::fs::canonicalize(reported.trim()).map_err(|e| {
        missing(format!(
            "`{program}` reported a path that does not resolve: {e}"
        ))
    })?;
    // `<prefix>/bin/<interpreter>`: the standard library and node's modules live under the prefix.
    let prefix = executable
        .parent()
        .and_then(Path::parent)
        .filter(|p| *p != Path::new("/"))
        .ok_or_else(|| missing(format!("`{program}` is not installed under a prefix")))?
        .to_path_buf();
    Ok(Interpreter { executable, prefix })
}

/// Files and folders any dynamically linked interpreter needs, read-only.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl/openssl.cnf",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
];

/// The ruleset, and the access the scratch folder is to be given (by the child: see
/// [`ScratchMount::apply`]).
fn landlock_ruleset(
    interpreter: &Interpreter,
    code: &Path,
    scratch: &Path,
) -> Result<(OwnedFd, u64), SandboxError> {
    let unsupported = |e: &dyn std::fmt::Display| {
        SandboxError::Unsupported(format!(
            "Landlock ABI {} (Linux 6.12 or newer, with `landlock` in the boot's LSM list) is required; this kernel reports ABI {}: {e}",
            LANDLOCK_ABI as i32,
            kernel_landlock_abi(),
        ))
    };
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute;
    let scratch_access = AccessFs::from_read(LANDLOCK_ABI) | AccessFs::from_write(LANDLOCK_ABI);
    let scratch_access = scratch_access
        & !(AccessFs::Execute
            | AccessFs::MakeChar
            | AccessFs::MakeBlock
            | AccessFs::MakeSock
            | AccessFs::MakeFifo
            | AccessFs::IoctlDev);

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(all)
        .and_then(|r| r.handle_access(AccessNet::from_all(LANDLOCK_ABI)))
        .and_then(|r| r.scope(Scope::from_all(LANDLOCK_ABI)))
        .and_then(|r| r.create())
        .map_err(|e| unsupported(&e))?;

    let mut read_paths: Vec<&Path> = SYSTEM_READ.iter().map(Path::new).collect();
    read_paths.push(&interpreter.prefix);
    read_paths.push(code);
    for path in read_paths {
        let Ok(fd) = PathFd::new(path) else {
            // Absent on this system (`/lib32`, `/etc/localtime`...): nothing to grant.
            continue;
        };
        let access = if is_dir(path) {
            read
        } else {
            read & AccessFs::from_file(LANDLOCK_ABI)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let dev_null = PathFd::new("/dev/null").map_err(|e| io::Error::other(e.to_string()))?;
    ruleset = ruleset
        .add_rule(PathBeneath::new(
            dev_null,
            AccessFs::ReadFile | AccessFs::WriteFile,
        ))
        .map_err(|e| io::Error::other(e.to_string()))?;
    // The scratch rule is added by the child, once its `tmpfs` is mounted: a rule names an
    // inode, and the mount's root is not the folder it covers.
    let _ = scratch;
    let ruleset =
        Option::<OwnedFd>::from(ruleset).ok_or_else(|| unsupported(&"no ruleset was created"))?;
    Ok((ruleset, scratch_access.bits()))
}

fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

fn kernel_landlock_abi() -> i64 {
    // SAFETY: with a null attribute and LANDLOCK_CREATE_RULESET_VERSION the call only returns a number.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    }
}

fn check_seccomp() -> Result<(), SandboxError> {
    // SAFETY: PR_GET_SECCOMP reads the calling thread's mode and touches no memory.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if mode < 0 || !status.contains("Seccomp_filters:") {
        return Err(SandboxError::Unsupported(
            "seccomp filters (CONFIG_SECCOMP_FILTER) are required to forbid processes and sockets"
                .into(),
        ));
    }
    check_no_x32()
}

/// The filters name x86_64 system calls; the x32 ABI reaches the same calls under other
/// numbers (bit 30 set) with the same architecture tag, so where the kernel offers it, the
/// filters would not see `socket` or `fork`. Refuse to run there.
#[cfg(target_arch = "x86_64")]
fn check_no_x32() -> Result<(), SandboxError> {
    const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
    // SAFETY: getpid takes no arguments and touches no memory, under any ABI.
    let ret = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
    if ret >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
        return Err(SandboxError::Unsupported(
            "a kernel without the x32 system call ABI (CONFIG_X86_X32_ABI off), whose calls the seccomp filters cannot see"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(not(target_arch = "x86_64"))]
fn check_no_x32() -> Result<(), SandboxError> {
    Ok(())
}

/// Two filters: refused calls fail with `EPERM`; `clone3` and `io_uring` fail with `ENOSYS` so
/// that libc and libuv fall back to `clone` and plain system calls, which the first filter sees.
struct SeccompFilters {
    eperm: BpfProgram,
    enosys: BpfProgram,
}

/// Calls sandboxed code never needs, refused outright.
const REFUSED_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_socket,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_process_mrelease,
    libc::SYS_kcmp,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pidfd_getfd,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_fanotify_init,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    // Landlock governs what may be read and written, not a file's metadata: without these the
    // code could chmod, chown, re-date or tag any file its user owns (setuid-root on a root
    // host's binaries) without being able to read it.
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
    libc::SYS_utimensat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chmod,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fchmodat2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lchown,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utime,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utimes,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_futimesat,
    // setxattrat and removexattrat (Linux 6.13), not yet named by the libc crate.
    #[cfg(target_arch = "x86_64")]
    463,
    #[cfg(target_arch = "x86_64")]
    466,
];

/// Calls that act on the process named by an argument (its index given), when that is not 0.
const OTHER_PROCESS_ARG: &[(libc::c_long, u8)] = &[
    (libc::SYS_prlimit64, 0),
    (libc::SYS_sched_setaffinity, 0),
    (libc::SYS_sched_setparam, 0),
    (libc::SYS_sched_setscheduler, 0),
    (libc::SYS_sched_setattr, 0),
    (libc::SYS_setpriority, 1),
    (libc::SYS_ioprio_set, 1),
];

const NOT_IMPLEMENTED_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_clone3,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn seccomp_filters() -> Result<SeccompFilters, SandboxError> {
    let arch = std::env::consts::ARCH.try_into().map_err(|_| {
        SandboxError::Unsupported(format!(
            "seccomp filters for the {} architecture",
            std::env::consts::ARCH
        ))
    })?;
    let build = |rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32| {
        SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .and_then(BpfProgram::try_from)
        .map_err(|e| SandboxError::Io(io::Error::other(e.to_string())))
    };

    let mut refused: BTreeMap<i64, Vec<SeccompRule>> = REFUSED_SYSCALLS
        .iter()
        .map(|&nr| (nr, Vec::new()))
        .collect();
    // A clone without CLONE_THREAD is a new process; with it, a thread of this one.
    let new_process = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        0,
    )
    .and_then(|c| SeccompRule::new(vec![c]))
    .map_err(|e| SandboxError::Io(io::Error::other(e.to_string())))?;
    refused.insert(libc::SYS_clone, vec![new_process]);
    // Calls that name a process by an argument: allowed on the caller itself (0), refused on
    // any other. The kernel reads these as 32-bit ints, so the low 32 bits are compared.
    for (nr, arg) in OTHER_PROCESS_ARG {
        let other = SeccompCondition::new(*arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, 0)
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| SandboxError::Io(io::Error::other(e.to_string())))?;
        refused.insert(*nr, vec![other]);
    }

    let not_implemented = NOT_IMPLEMENTED_SYSCALLS
        .iter()
        .map(|&nr| (nr, Vec::new()))
        .collect();
    Ok(SeccompFilters {
        eperm: build(refused, libc::EPERM)?,
        enosys: build(not_implemented, libc::ENOSYS)?,
    })
}

fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// Everything the child applies to itself between fork and exec, prepared by the parent.
struct Confinement {
    ruleset_fd: i32,
    filters: SeccompFilters,
    limits: Limits,
    last_cap: u32,
    scratch: ScratchMount,
    /// The run's `cgroup.procs` files, joined before anything else.
    cgroup_procs: Vec<CString>,
}

/// The uid and gid the code has inside its user namespace: not 0, so that it holds no
/// capability there after exec and the kernel treats it as no one in particular.
const SANDBOX_ID: u32 = 65534;

/// The namespaces each run gets: with `CLONE_NEWUSER` in the same call, each is owned by the
/// run's user namespace, and the code is their only member.
const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// What the child needs for its namespaces and scratch `tmpfs`, prepared before the fork:
/// between fork and exec nothing may allocate.
struct ScratchMount {
    path: CString,
    options: CString,
    /// Landlock's access bits for the scratch folder.
    access: u64,
    /// `65534 <uid> 1` and `65534 <gid> 1`: the host's own ids seen as 65534 in the run's user
    /// namespace (the only mapping a process may write for itself).
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

impl ScratchMount {
    fn new(path: &Path, bytes: u64, access: u64) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c = |v: Vec<u8>| CString::new(v).map_err(|e| io::Error::other(e.to_string()));
        // SAFETY: geteuid and getegid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(ScratchMount {
            path: c(path.as_os_str().as_bytes().to_vec())?,
            options: c(format!("size={bytes},nr_inodes=4096,mode=0700").into_bytes())?,
            access,
            uid_map: format!("{SANDBOX_ID} {uid} 1").into_bytes(),
            gid_map: format!("{SANDBOX_ID} {gid} 1").into_bytes(),
        })
    }

    /// In the child: the namespaces, the `tmpfs` over the scratch folder, and the Landlock
    /// rule that lets the code write there.
    ///
    /// # Safety
    ///
    /// Between fork and exec only: it changes the calling process's namespaces.
    unsafe fn apply(&self, ruleset_fd: i32) -> io::Result<()> {
        let check = os_check::<libc::c_int>;
        // SAFETY: system calls on C strings and buffers owned by `self`.
        unsafe {
            check(libc::unshare(NAMESPACES))?;
            write_proc(c"/proc/self/setgroups", b"deny")?;
            write_proc(c"/proc/self/uid_map", &self.uid_map)?;
            write_proc(c"/proc/self/gid_map", &self.gid_map)?;
            // The host's name is none of the code's business.
            check(libc::sethostname(c"sandbox".as_ptr(), 7))?;
            // Nothing mounted here may reach the host's mount namespace.
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::mount(
                c"tmpfs".as_ptr(),
                self.path.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                self.options.as_ptr().cast(),
            ))?;
            // The working directory was entered before the mount, beneath it: enter the tmpfs.
            check(libc::chdir(self.path.as_ptr()))?;

            let dir = libc::open(
                self.path.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            check(dir)?;
            // `struct landlock_path_beneath_attr`, packed as the kernel declares it.
            #[repr(C, packed)]
            struct PathBeneathAttr {
                allowed_access: u64,
                parent_fd: i32,
            }
            const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
            let attr = PathBeneathAttr {
                allowed_access: self.access,
                parent_fd: dir,
            };
            let added = libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset_fd,
                LANDLOCK_RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            );
            libc::close(dir);
            if added < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// A system call's return value: negative is the error in `errno`.
fn os_check<T: Into<i64>>(ret: T) -> io::Result<()> {
    if ret.into() < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes `data` to a `/proc` or cgroup file, without allocating.
///
/// # Safety
///
/// Plain system calls; `path` and `data` are valid for their lengths.
unsafe fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: see above.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        if written != data.len() as isize {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The code's pid, for [`kill_code`].
static CODE_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The supervising process's SIGTERM handler: the host's time is up.
extern "C" fn kill_code(_: libc::c_int) {
    // SAFETY: kill is async-signal-safe; the atomic load is lock-free.
    unsafe {
        libc::kill(
            CODE_PID.load(std::sync::atomic::Ordering::Relaxed),
            libc::SIGKILL,
        )
    };
}

/// In the process between the host and the code, once the code is forked: waits for it and
/// ends the same way, so the host sees the code's own exit status. Never returns.
///
/// # Safety
///
/// In a forked child only; it exits the process.
unsafe fn supervise(code: libc::pid_t, keep_fd: i32) -> ! {
    // SAFETY: plain system calls on local integers.
    unsafe {
        // Nothing of the host's (the output pipes above all) may be held open by this process:
        // the code's end of the pipes closing is what tells the host the output is complete.
        // `keep_fd` stays open: the code checks it to know this process is still alive.
        if keep_fd > 0 {
            libc::syscall(
                libc::SYS_close_range,
                0u32,
                (keep_fd - 1) as libc::c_uint,
                0u32,
            );
        }
        libc::syscall(
            libc::SYS_close_range,
            (keep_fd + 1) as libc::c_uint,
            libc::c_uint::MAX,
            0u32,
        );
        CODE_PID.store(code, std::sync::atomic::Ordering::Relaxed);
        let mut on_term: libc::sigaction = std::mem::zeroed();
        on_term.sa_sigaction = kill_code as *const () as libc::sighandler_t;
        libc::sigaction(libc::SIGTERM, &on_term, std::ptr::null_mut());
        let mut status = 0;
        loop {
            let ret = libc::waitpid(code, &mut status, 0);
            if ret == code {
                break;
            }
            if ret < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(127)
    }
}

impl Confinement {
    /// Runs in the forked child. Any failure aborts the spawn: the code never runs unconfined.
    fn apply(&self) -> io::Result<()> {
        let check = os_check::<libc::c_long>;
        // SAFETY: plain system calls on integers and on memory owned by `self`.
        unsafe {
            check(libc::setsid() as libc::c_long)?;
            // Joined while still the host's user; inherited by everything forked below.
            for procs in &self.cgroup_procs {
                write_proc(procs, b"0")?;
            }
        }

        let limits = &self.limits;
        let cpu = limits.cpu_secs.max(1);
        use rlimit::{Resource, setrlimit};
        setrlimit(Resource::AS, limits.memory_bytes, limits.memory_bytes)?;
        setrlimit(Resource::CPU, cpu, cpu + 1)?;
        setrlimit(
            Resource::NOFILE,
            limits.max_open_files,
            limits.max_open_files,
        )?;
        setrlimit(
            Resource::FSIZE,
            limits.max_file_bytes,
            limits.max_file_bytes,
        )?;
        setrlimit(Resource::NPROC, limits.max_processes, limits.max_processes)?;
        setrlimit(Resource::CORE, 0, 0)?;

        // SAFETY: as above.
        unsafe {
            // Mounting needs the capabilities the new user namespace gives, so before they go.
            self.scratch.apply(self.ruleset_fd)?;

            // A PID namespace takes in only the children of the process that made it: the code
            // is forked to be its init, this process waits for it.
            let mut alive = [0; 2];
            check(libc::pipe2(alive.as_mut_ptr(), libc::O_CLOEXEC) as _)?;
            let pid = libc::fork();
            check(pid as _)?;
            if pid > 0 {
                libc::close(alive[0]);
                supervise(pid, alive[1]);
            }
            libc::close(alive[1]);
            // Should the process between the host and the code die (the host kills it on
            // expiry), the code dies, and with it, as its namespace's init, everything in it.
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) as _)?;
            // It may have died before the line above: then its end of the pipe is closed.
            let mut poll = libc::pollfd {
                fd: alive[0],
                events: 0,
                revents: 0,
            };
            if libc::poll(&mut poll, 1, 0) != 0 {
                libc::_exit(1);
            }
            libc::close(alive[0]);

            // No capability may survive exec, in the run's user namespace or any.
            for cap in 0..=self.last_cap {
                check(libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) as _)?;
            }
            const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
            const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
            const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
            const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
            check(libc::prctl(
                libc::PR_SET_SECUREBITS,
                SECBIT_NOROOT
                    | SECBIT_NOROOT_LOCKED
                    | SECBIT_NO_SETUID_FIXUP
                    | SECBIT_NO_SETUID_FIXUP_LOCKED,
                0,
                0,
                0,
            ) as _)?;
            check(libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            ) as _)?;
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _)?;
            check(libc::syscall(
                libc::SYS_landlock_restrict_self,
                self.ruleset_fd,
                0u32,
            ))?;
            // Landlock and seccomp judge new opens and new sockets; a descriptor the host left
            // open without close-on-exec (a socket-activated listener, a file a C library
            // opened) would reach the code whole. Marked close-on-exec rather than closed, so
            // std's own exec-error pipe still works.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            check(libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            ))?;
        }
        // The ENOSYS filter first: once the EPERM one is in place, nothing else changes.
        seccompiler::apply_filter(&self.filters.enosys).map_err(seccomp_io)?;
        seccompiler::apply_filter(&self.filters.eperm).map_err(seccomp_io)?;
        Ok(())
    }
}

fn seccomp_io(e: seccompiler::Error) -> io::Error {
    match e {
        seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e,
        _ => io::Error::from_raw_os_error(libc::EINVAL),
    }
}

/// Keeps at most `cap` characters, reading on to the end (and dropping the rest) so the writer
/// never blocks on a full pipe; memory stays bounded by the cap.
async fn read_capped(mut reader: impl AsyncRead + Unpin, cap: usize) -> io::Result<(String, bool)> {
    // A character is at most 4 bytes in UTF-8; invalid bytes become one character each.
    let keep = cap.saturating_mul(4);
    let mut kept = Vec::new();
    let mut overflow = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let room = keep - kept.len();
        kept.extend_from_slice(&buf[..n.min(room)]);
        overflow |= n > room;
    }
    let text = String::from_utf8_lossy(&kept);
    let mut chars = text.char_indices();
    match chars.nth(cap) {
        Some((end, _)) => Ok((text[..end].to_owned(), true)),
        None => Ok((text.into_owned(), overflow)),
    }
}

async fn collect(
    task: &mut Option<tokio::task::JoinHandle<io::Result<(String, bool)>>>,
) -> io::Result<(String, bool)> {
    match task {
        Some(task) => task.await.map_err(io::Error::other)?,
        None => Ok((String::new(), false)),
    }
}

/// Removes the scratch folder, whatever the code did to it. Landlock does not govern `chmod`,
/// so the code may have made a folder unreadable; permissions are given back, without following
/// links, before deleting. The run's output is the caller's either way: a folder that still
/// cannot be removed is logged, not turned into a failed run.
fn remove_scratch(scratch: tempfile::TempDir) {
    fn reopen(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                reopen(&entry.path());
            }
        }
    }
    let path = scratch.path().to_owned();
    reopen(&path);
    if let Err(e) = scratch.close() {
        tracing::error!(
            target: "tool_runtime::sandbox",
            error = %e,
            folder = %path.display(),
            "a sandbox's scratch folder could not be removed"
        );
    }
}
