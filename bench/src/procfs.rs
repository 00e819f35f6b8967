//! What `/proc` says about a process: CPU time (user + system, all threads)
//! and resident memory.

use std::path::PathBuf;
use std::time::Duration;

/// Reads `/proc/<pid>` (or `/proc/self`).
#[derive(Clone, Debug)]
pub struct Proc {
    dir: PathBuf,
    /// Clock ticks per second of `utime`/`stime` (`getconf CLK_TCK`).
    ticks_per_second: u64,
}

/// One reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// User + system CPU time of every thread so far.
    pub cpu: Duration,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

impl Proc {
    pub fn of(pid: u32) -> Self {
        Self::at(PathBuf::from(format!("/proc/{pid}")))
    }

    pub fn current() -> Self {
        Self::at(PathBuf::from("/proc/self"))
    }

    fn at(dir: PathBuf) -> Self {
        Self {
            dir,
            ticks_per_second: clock_ticks(),
        }
    }

    /// A reading now; `None` once the process is gone.
    pub fn sample(&self) -> Option<Sample> {
        let stat = std::fs::read_to_string(self.dir.join("stat")).ok()?;
        let status = std::fs::read_to_string(self.dir.join("status")).ok()?;
        let ticks = cpu_ticks(&stat)?;
        Some(Sample {
            cpu: Duration::from_nanos(ticks * 1_000_000_000 / self.ticks_per_second.max(1)),
            rss_kib: rss_kib(&status)?,
        })
    }
}

/// CPU time that every core of the machine spent busy so far (user, nice,
/// system, irq, softirq, steal from the first line of `/proc/stat`): what
/// the server and the generator used, plus what everything else did.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks = busy_ticks(stat.lines().next()?)?;
    Some(Duration::from_nanos(
        ticks * 1_000_000_000 / clock_ticks().max(1),
    ))
}

/// Busy ticks of a `cpu  user nice system idle iowait irq softirq steal ...`
/// line.
pub fn busy_ticks(line: &str) -> Option<u64> {
    let mut f = line.strip_prefix("cpu ")?.split_ascii_whitespace();
    let mut v = [0u64; 8];
    for slot in &mut v {
        *slot = f.next()?.parse().ok()?;
    }
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = v;
    Some(user + nice + system + irq + softirq + steal)
}

/// CPU time (user + system) of a process and every process under it, so
/// far: a database server's postmaster and its backends, say. `None` when
/// the root is gone.
pub fn tree_cpu(root: u32) -> Option<Duration> {
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: skip it.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            if let (Some(ppid), Some(ticks)) = (parent_pid(&stat), cpu_ticks(&stat)) {
                procs.push((pid, ppid, ticks));
            }
        }
    }
    let ticks = tree_ticks(&procs, root)?;
    Some(Duration::from_nanos(
        ticks * 1_000_000_000 / clock_ticks().max(1),
    ))
}

/// The ticks of `root` and its descendants among `(pid, ppid, ticks)`.
pub fn tree_ticks(procs: &[(u32, u32, u64)], root: u32) -> Option<u64> {
    let mut total = procs.iter().find(|p| p.0 == root)?.2;
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, ticks) in procs {
            if ppid == parent && pid != root {
                total += ticks;
                frontier.push(pid);
            }
        }
    }
    Some(total)
}

/// The parent pid (field 4) of a `stat` line.
pub fn parent_pid(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` from a `stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // After the name: state (3), ppid (4), ... utime is field 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` from a `status` file, in KiB.
pub fn rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(read_clock_ticks)
}

fn read_clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_odd_command_names() {
        let stat = "4242 (souk edge) worker) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    350 125 0 0 20 0 9 0 100 123456789 4321 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(475));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn a_tree_counts_every_descendant_once() {
        let stat = "4242 (postgres: souk) x) S 17 4242 4242 0 -1 4194560 1234 0 0 0 \
                    350 125 0 0 20 0 9 0 100 123456789 4321 18446744073709551615";
        assert_eq!(parent_pid(stat), Some(17));
        // 1 -> 2 -> 3, 1 -> 4; 5 is someone else's.
        let procs = [(1, 0, 10), (2, 1, 20), (3, 2, 30), (4, 1, 40), (5, 9, 500)];
        assert_eq!(tree_ticks(&procs, 1), Some(100));
        assert_eq!(tree_ticks(&procs, 2), Some(50));
        assert_eq!(tree_ticks(&procs, 7), None);
        let me = std::process::id();
        assert!(tree_cpu(me).is_some());
    }

    #[test]
    fn rss_from_status() {
        let status = "Name:\tnode\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t7\n";
        assert_eq!(rss_kib(status), Some(51234));
        assert_eq!(rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn busy_time_leaves_idle_and_iowait_out() {
        let line = "cpu  100 5 50 9000 300 7 8 30 0 0";
        assert_eq!(busy_ticks(line), Some(200));
        assert_eq!(busy_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(busy_ticks("cpu  1 2"), None);
        assert!(machine_busy().is_some());
    }

    #[test]
    fn this_process_can_be_read() {
        let s = Proc::current().sample().expect("/proc/self is readable");
        assert!(s.rss_kib > 0);
    }
}
