//! A cgroup of the run's own: memory, process/thread count and CPU bounded for the whole run,
//! whatever uid it runs as (root ignores `RLIMIT_NPROC`; a cgroup binds everyone).
//!
//! cgroup v2 is preferred where the host's own cgroup can delegate the `memory` and `pids`
//! controllers; otherwise the v1 `memory` and `pids` hierarchies (with `cpu` where mounted), as
//! on hosts that mount v1 controllers beside an empty v2 tree. A host that can give neither (not
//! root, no delegation) gets none, and the run relies on rlimits.

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Limits;

/// What bounded the run's memory, process/thread count and CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResourceControl {
    /// A cgroup v2 of the run's own (`memory.max`, `pids.max`, `cpu.max`), plus the rlimits.
    CgroupV2,
    /// cgroup v1 `memory` and `pids` (and `cpu` where mounted) groups of the run's own, plus the
    /// rlimits.
    CgroupV1,
    /// The rlimits alone (`RLIMIT_AS`, `RLIMIT_NPROC`, `RLIMIT_CPU`): only where the host is
    /// not root, so that they bind.
    #[default]
    Rlimits,
}

/// Where cgroups are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One CPU: the quota equals the period.
const CPU_PERIOD_US: u64 = 100_000;

/// A run's cgroup(s), created before the spawn and removed after.
pub(crate) struct RunCgroup {
    pub(crate) kind: ResourceControl,
    dirs: Vec<PathBuf>,
    /// The `cgroup.procs` files the child writes itself into, prepared before the fork.
    pub(crate) procs: Vec<CString>,
}

impl RunCgroup {
    /// A cgroup for one run, or `None` when the host can give none.
    pub(crate) fn create(limits: &Limits) -> Option<RunCgroup> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tool-sandbox-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        create_v2(&own, &name, limits).or_else(|| create_v1(&own, &name, limits))
    }

    /// Removes the groups once their processes are gone. A process killed on expiry may take a
    /// moment to leave; a group that stays is logged, not turned into a failed run.
    pub(crate) async fn remove(self) {
        for dir in &self.dirs {
            let mut removed = false;
            for _ in 0..1000 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    removed = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if !removed {
                tracing::error!(
                    target: "tool_sandbox",
                    cgroup = %dir.display(),
                    "a sandbox run's cgroup could not be removed"
                );
            }
        }
    }
}

/// This process's cgroup in the hierarchy whose `/proc/self/cgroup` line `matches`.
fn own_path(own: &str, matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(controllers).then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

fn create_v2(own: &str, name: &str, limits: &Limits) -> Option<RunCgroup> {
    let relative = own_path(own, |c| c.is_empty())?;
    let mount = [CGROUP_ROOT, "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(Path::new)
        .find(|m| m.join("cgroup.controllers").exists())?;
    let parent = mount.join(relative);
    let subtree = parent.join("cgroup.subtree_control");
    let enabled = |c: &str| {
        std::fs::read_to_string(&subtree).is_ok_and(|s| s.split_whitespace().any(|word| word == c))
    };
    for controller in ["memory", "pids", "cpu"] {
        if !enabled(controller) {
            // Refused where the parent holds processes itself (the "no internal processes"
            // rule) or is not delegated to this user.
            let _ = std::fs::write(&subtree, format!("+{controller}"));
        }
    }
    if !enabled("memory") || !enabled("pids") {
        return None;
    }
    let dir = parent.join(name);
    std::fs::create_dir(&dir).ok()?;
    let group = RunCgroup {
        kind: ResourceControl::CgroupV2,
        procs: vec![procs_file(&dir)?],
        dirs: vec![dir.clone()],
    };
    let set = |file: &str, value: String| std::fs::write(dir.join(file), value);
    let written = set("memory.max", limits.memory_bytes.to_string())
        .and_then(|()| set("pids.max", limits.max_processes.to_string()))
        .and_then(|()| {
            if enabled("cpu") {
                set("cpu.max", format!("{CPU_PERIOD_US} {CPU_PERIOD_US}"))
            } else {
                Ok(())
            }
        });
    // Swap would let memory past the limit; a host without swap has no such file.
    let _ = set("memory.swap.max", "0".into());
    finish(group, written)
}

fn create_v1(own: &str, name: &str, limits: &Limits) -> Option<RunCgroup> {
    let root = Path::new(CGROUP_ROOT);
    let hierarchy = |controller: &str| -> Option<PathBuf> {
        let relative = own_path(own, |c| c.split(',').any(|c| c == controller))?;
        let mount = root.join(controller);
        mount.join("tasks").exists().then(|| mount.join(relative))
    };
    let memory = hierarchy("memory")?;
    let pids = hierarchy("pids")?;
    let cpu = hierarchy("cpu");

    let mut group = RunCgroup {
        kind: ResourceControl::CgroupV1,
        dirs: Vec::new(),
        procs: Vec::new(),
    };
    let mut join = |parent: &Path| -> io::Result<PathBuf> {
        let dir = parent.join(name);
        std::fs::create_dir(&dir)?;
        group.dirs.push(dir.clone());
        group
            .procs
            .push(procs_file(&dir).ok_or_else(|| io::Error::other("path with a NUL"))?);
        Ok(dir)
    };
    let written = (|| {
        let dir = join(&memory)?;
        std::fs::write(
            dir.join("memory.limit_in_bytes"),
            limits.memory_bytes.to_string(),
        )?;
        // Swap would let memory past the limit; a kernel without swap accounting has no file.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            std::fs::write(memsw, limits.memory_bytes.to_string())?;
        }
        let dir = join(&pids)?;
        std::fs::write(dir.join("pids.max"), limits.max_processes.to_string())?;
        if let Some(cpu) = &cpu {
            let dir = join(cpu)?;
            std::fs::write(dir.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
            std::fs::write(dir.join("cpu.cfs_quota_us"), CPU_PERIOD_US.to_string())?;
        }
        Ok(())
    })();
    finish(group, written)
}

/// The group when every limit was written; otherwise it is removed and the host has none.
fn finish(group: RunCgroup, written: io::Result<()>) -> Option<RunCgroup> {
    match written {
        Ok(()) if !group.procs.is_empty() => Some(group),
        _ => {
            for dir in group.dirs.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
            None
        }
    }
}

fn procs_file(dir: &Path) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::own_path;
    use std::path::PathBuf;

    const OWN: &str =
        "9:name=systemd:/\n4:memory:/jobs/a1\n1:cpu,cpuacct:/jobs\n0::/user.slice/x.scope\n";

    #[test]
    fn finds_this_process_s_group_in_each_hierarchy() {
        let v1 = |name: &'static str| move |c: &str| c.split(',').any(|c| c == name);
        assert_eq!(own_path(OWN, v1("memory")), Some(PathBuf::from("jobs/a1")));
        assert_eq!(own_path(OWN, v1("cpu")), Some(PathBuf::from("jobs")));
        assert_eq!(own_path(OWN, v1("pids")), None);
        assert_eq!(
            own_path(OWN, |c| c.is_empty()),
            Some(PathBuf::from("user.slice/x.scope"))
        );
        // `name=systemd` is not the `systemd` controller, nor is `cpuacct` `cpu`.
        assert_eq!(own_path("1:cpuacct:/a\n", v1("cpu")), None);
        assert_eq!(own_path("garbage\n", |c| c.is_empty()), None);
    }
}
