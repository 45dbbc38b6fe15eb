//! Identifiers: run ids (time-ordered) and the short form of content hashes.

/// A new time-ordered run id (UUID v7, so ids sort by start time).
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The first 8 hex digits of a sha256, as used in persistent landing object names.
pub fn short_hash(sha256_hex: &str) -> &str {
    &sha256_hex[..sha256_hex.len().min(8)]
}

/// Replaces characters that are unsafe in a file name with `_`, so that a name that comes
/// from a source can never leave its folder (no separators, no `..`, no control characters).
pub fn sanitize_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "_".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_names_stay_in_their_folder() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize_file_name(".."), "_");
        assert_eq!(sanitize_file_name("a/b\\c\0d"), "a_b_c_d");
        assert_eq!(sanitize_file_name("Zużycie 2016.csv"), "Zużycie_2016.csv");
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert!(a < b);
    }
}
