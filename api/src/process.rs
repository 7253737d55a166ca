//! The standard Prometheus process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`...), read from
//! `/proc/self` at scrape time (Linux; elsewhere, or when `/proc` is not
//! readable, nothing is shown).
//!
//! `/proc/self/stat` counts CPU time and the start time in clock ticks of
//! `USER_HZ`, which Linux fixes at 100 for every architecture this builds
//! for (reading `sysconf` would need `unsafe`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::prom::{self, Encoded};

/// Clock ticks per second in `/proc/*/stat`.
const USER_HZ: f64 = 100.0;

/// The figures of one process, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory, in bytes.
    pub resident_bytes: u64,
    /// Virtual memory, in bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
    /// Threads.
    pub threads: u64,
}

/// CPU seconds (utime + stime) and the start time in seconds after boot,
/// from the text of `/proc/PID/stat`.
#[allow(clippy::cast_precision_loss, reason = "clock ticks shown as float seconds")]
pub(crate) fn parse_stat(stat: &str) -> Option<(f64, f64)> {
    // The command name (field 2) is in parentheses and may hold spaces:
    // the fields that follow start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: utime is field 14,
    // stime 15, starttime 22.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let cpu = (field(14)? + field(15)?) as f64 / USER_HZ;
    let started = field(22)? as f64 / USER_HZ;
    Some((cpu, started))
}

/// A `Name:   N kB` (or plain `N`) line's value of `/proc/PID/status`,
/// in bytes for kB values.
pub(crate) fn status_value(status: &str, name: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let mut parts = line.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    Some(if parts.next() == Some("kB") { n * 1024 } else { n })
}

/// The soft `Max open files` limit of `/proc/PID/limits`.
pub(crate) fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The boot time (`btime`) of `/proc/stat`, in seconds since the epoch.
pub(crate) fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[allow(clippy::cast_precision_loss, reason = "the boot time shown as float seconds")]
impl ProcessStats {
    /// This process's figures, when `/proc` is readable.
    #[must_use]
    pub fn read() -> Option<Self> {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let (cpu_seconds, started) = parse_stat(&read("/proc/self/stat")?)?;
        let status = read("/proc/self/status")?;
        let boot = boot_time(&read("/proc/stat")?)?;
        Some(Self {
            cpu_seconds,
            resident_bytes: status_value(&status, "VmRSS")?,
            virtual_bytes: status_value(&status, "VmSize")?,
            open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as u64,
            max_fds: read("/proc/self/limits").as_deref().and_then(max_open_files),
            start_time_seconds: boot as f64 + started,
            threads: status_value(&status, "Threads")?,
        })
    }
}

/// Encodes [`ProcessStats::read`] at each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        let Some(p) = ProcessStats::read() else {
            return Ok(());
        };
        let e = &mut e;
        prom::counter_f64(
            e,
            "process_cpu_seconds_total",
            "User and system CPU time spent, in seconds.",
            p.cpu_seconds,
        )?;
        prom::gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            p.resident_bytes,
        )?;
        prom::gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes.",
            p.virtual_bytes,
        )?;
        prom::gauge(e, "process_open_fds", "Open file descriptors.", p.open_fds)?;
        if let Some(max) = p.max_fds {
            prom::gauge(
                e,
                "process_max_fds",
                "The soft limit on open file descriptors.",
                max,
            )?;
        }
        prom::gauge(
            e,
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch.",
            p.start_time_seconds,
        )?;
        prom::gauge(e, "process_threads", "Threads of the process.", p.threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_found_after_a_command_name_with_spaces() {
        let stat =
            "4242 (kupala (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 12345 1000000 300";
        assert_eq!(parse_stat(stat), Some((3.0, 123.45)));
        assert_eq!(parse_stat("1 (short) S 1"), None);
    }

    #[test]
    fn status_limits_and_boot_time_are_parsed() {
        let status = "Name:\tkupala\nThreads:\t12\nVmSize:\t  2048 kB\nVmRSS:\t    1000 kB\n";
        assert_eq!(status_value(status, "VmRSS"), Some(1_024_000));
        assert_eq!(status_value(status, "VmSize"), Some(2_097_152));
        assert_eq!(status_value(status, "Threads"), Some(12));
        assert_eq!(status_value(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read_from_proc() {
        let p = ProcessStats::read();
        assert!(
            p.as_ref()
                .is_some_and(|p| p.resident_bytes > 0 && p.open_fds > 0 && p.threads > 0),
            "{p:?}"
        );
        let started = p.map_or(0.0, |p| p.start_time_seconds);
        assert!(started > 1_600_000_000.0, "start time {started}");
    }
}
