//! Content hashing while copying, so each byte is read once.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Copies `reader` into `writer`, returning the sha256 (hex) and the byte count.
///
/// # Errors
/// When reading or writing fails.
pub fn copy_hashed(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// The sha256 (hex) of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_hashes_what_it_copies() {
        let data = b"device_id,date\nHM1,2016-01-01\n".repeat(20_000);
        let mut out = Vec::new();
        let (sha, n) = copy_hashed(&mut &data[..], &mut out).unwrap();
        assert_eq!(out, data);
        assert_eq!(n as usize, data.len());
        assert_eq!(sha, sha256_hex(&data));
    }
}
