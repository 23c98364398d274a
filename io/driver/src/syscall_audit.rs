//! Counting an application's system calls on its hot path: run it under `strace -f -o
//! <log>` and bracket the loop with two `getppid()` calls (a call nothing else makes);
//! [`between_markers`] reads the log.

use std::collections::BTreeMap;

/// The system calls, by name with counts, that an `strace -f` log records between the
/// first two `getppid` calls; `None` if the log has fewer than two.
pub fn between_markers(log: &str) -> Option<Vec<(String, usize)>> {
    let mut seen = 0;
    let mut counts = BTreeMap::<String, usize>::new();
    for line in log.lines() {
        // "<pid> name(args) = result", or "<pid> <... name resumed>..." for a call another
        // thread interrupted in the log (counted where it started).
        let call = line.split_whitespace().nth(1).unwrap_or("");
        let name = call.split('(').next().unwrap_or("");
        if name == "getppid" {
            seen += 1;
            if seen == 2 {
                break;
            }
            continue;
        }
        let noise = name.is_empty() || name.starts_with('<') || name.starts_with("+++") || name.starts_with("---");
        if seen == 1 && !noise {
            *counts.entry(name.to_string()).or_default() += 1;
        }
    }
    (seen == 2).then(|| counts.into_iter().collect())
}

/// Marks the start or end of the audited loop.
pub fn marker() {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_between_the_markers() {
        let log = "12 openat(AT_FDCWD, \"x\") = 3\n12 getppid() = 1\n13 sendmmsg(3, ...) = 1\n\
                   12 futex(0x1, FUTEX_WAIT <unfinished ...>\n13 <... futex resumed>) = 0\n\
                   13 sendmmsg(3, ...) = 2\n12 getppid() = 1\n12 exit_group(0) = ?\n12 +++ exited with 0 +++\n";
        assert_eq!(between_markers(log), Some(vec![("futex".to_string(), 1), ("sendmmsg".to_string(), 2)]));
        assert_eq!(between_markers("1 getppid() = 1\n1 read(0) = 1\n"), None);
    }
}
