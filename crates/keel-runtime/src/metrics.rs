//! Process metrics recorded with every step.

/// Peak resident set size of this process so far, in bytes (`VmHWM`; 0 where unknown).
pub fn peak_rss_bytes() -> i64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_measured_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_bytes() > 1024 * 1024);
        }
    }
}
