//! Whether this process runs under a cgroup CPU quota (a container's `cpu` limit).
//!
//! Under a quota, CPU a worker spends spinning is CPU it cannot spend on work before the
//! kernel throttles the whole group for the rest of the period (100 ms by default). Adaptive
//! busy polling ([`super::busy_poll`]) is therefore off by default there.

use std::fs;
use std::path::{Path, PathBuf};

/// A CPU quota found on this process's cgroup or one of its ancestors.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuQuota {
    /// The file that sets it.
    pub file: PathBuf,
    /// CPUs' worth of time per period (0.5: half a CPU).
    pub cpus: f64,
}

/// The quota on this process, looked up under the usual cgroup mount point.
pub fn current() -> Option<CpuQuota> {
    let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
    find(Path::new("/sys/fs/cgroup"), &cgroups)
}

/// The tightest quota on the cgroups named in `cgroups` (the text of `/proc/self/cgroup`) and
/// their ancestors, with the hierarchies mounted under `root`.
fn find(root: &Path, cgroups: &str) -> Option<CpuQuota> {
    let mut found: Vec<CpuQuota> = Vec::new();
    for line in cgroups.lines() {
        // "hierarchy-id:controllers:path"; the unified (v2) hierarchy has id 0 and no
        // controller list.
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            for dir in [root.to_path_buf(), root.join("unified")] {
                found.extend(walk_up(&dir, path, |d| v2_quota(&d.join("cpu.max"))));
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            for mount in [controllers, "cpu", "cpu,cpuacct"] {
                found.extend(walk_up(&root.join(mount), path, v1_quota));
            }
        }
    }
    found.into_iter().min_by(|a, b| a.cpus.total_cmp(&b.cpus))
}

/// The quotas on `path` below `mount` and on each of its ancestors up to `mount`.
fn walk_up(mount: &Path, path: &str, quota: impl Fn(&Path) -> Option<CpuQuota>) -> Vec<CpuQuota> {
    let mut dir = mount.join(path.trim_start_matches('/'));
    let mut found = Vec::new();
    loop {
        found.extend(quota(&dir));
        if dir == mount || !dir.pop() || !dir.starts_with(mount) {
            break;
        }
    }
    found
}

/// cgroup v2 `cpu.max`: "QUOTA PERIOD", QUOTA being `max` when unlimited.
fn v2_quota(file: &Path) -> Option<CpuQuota> {
    let text = fs::read_to_string(file).ok()?;
    let mut fields = text.split_whitespace();
    let quota: f64 = fields.next()?.parse().ok()?;
    let period: f64 = fields.next()?.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| CpuQuota {
        file: file.to_path_buf(),
        cpus: quota / period,
    })
}

/// cgroup v1 `cpu.cfs_quota_us` (-1 when unlimited) over `cpu.cfs_period_us`.
fn v1_quota(dir: &Path) -> Option<CpuQuota> {
    let file = dir.join("cpu.cfs_quota_us");
    let quota: f64 = fs::read_to_string(&file).ok()?.trim().parse().ok()?;
    let period: f64 = fs::read_to_string(dir.join("cpu.cfs_period_us"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (quota > 0.0 && period > 0.0).then_some(CpuQuota {
        file,
        cpus: quota / period,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch cgroup mount tree, removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(name: &str) -> Tree {
            let dir =
                std::env::temp_dir().join(format!("pipy-cgroup-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Tree(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            let file = self.0.join(rel);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn v2_unlimited_is_no_quota() {
        let t = Tree::new("v2-max");
        t.write("cpu.max", "max 100000\n");
        t.write("pod/app/cpu.max", "max 100000\n");
        assert_eq!(find(&t.0, "0::/pod/app\n"), None);
    }

    #[test]
    fn v2_quota_on_an_ancestor_counts() {
        let t = Tree::new("v2-parent");
        t.write("cpu.max", "max 100000\n");
        t.write("pod/cpu.max", "50000 100000\n");
        t.write("pod/app/cpu.max", "max 100000\n");
        let q = find(&t.0, "0::/pod/app\n").unwrap();
        assert_eq!(q.cpus, 0.5);
        assert_eq!(q.file, t.0.join("pod/cpu.max"));
    }

    #[test]
    fn v2_in_a_cgroup_namespace_reads_the_root() {
        let t = Tree::new("v2-ns");
        t.write("cpu.max", "200000 100000\n");
        assert_eq!(find(&t.0, "0::/\n").map(|q| q.cpus), Some(2.0));
    }

    #[test]
    fn v1_quota_and_unlimited() {
        let t = Tree::new("v1");
        t.write("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "25000\n");
        t.write("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
        t.write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        t.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        let cgroups = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
        assert_eq!(find(&t.0, cgroups).map(|q| q.cpus), Some(0.25));
        assert_eq!(find(&t.0, "3:cpu,cpuacct:/\n"), None);
    }

    #[test]
    fn nothing_mounted_is_no_quota() {
        let t = Tree::new("empty");
        assert_eq!(find(&t.0, "0::/x\n1:cpu:/y\ngarbage\n"), None);
    }
}
