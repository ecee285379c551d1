//! The cluster key file format: 64 hexadecimal characters (what `generate_key` writes) or
//! the base64 of 32 bytes.

use base64::Engine;

use crate::error::ClusterError;

const EXPECTED: &str = "expected 64 hexadecimal characters or the base64 encoding of 32 bytes";

/// Parses the content of a cluster key file. Surrounding whitespace is ignored.
pub fn parse_key(text: &str) -> Result<[u8; 32], ClusterError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ClusterError::InvalidKey(format!(
            "the key is empty; {EXPECTED}"
        )));
    }
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        return Ok(key);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text));
    match decoded {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            ClusterError::InvalidKey(format!(
                "the key decodes as base64 to {} bytes, not 32; {EXPECTED}",
                bytes.len()
            ))
        }),
        Err(_) => Err(ClusterError::InvalidKey(format!(
            "the key ({} characters) is neither hexadecimal nor base64; {EXPECTED}",
            text.chars().count()
        ))),
    }
}

/// A new random key in the key file format (64 hexadecimal characters).
pub fn generate_key() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the operating system's random number generator failed");
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_of_the_same_key_agree() {
        let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
        let key = parse_key(&format!("  {hex}\n")).unwrap();
        assert_eq!(key[0], 0);
        assert_eq!(key[10], 10);
        assert_eq!(key[31], 31);
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert_eq!(parse_key(&format!("{b64}\n")).unwrap(), key);
        assert_eq!(parse_key(b64.trim_end_matches('=')).unwrap(), key);
    }

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(parse_key(&a).is_ok());
    }

    #[test]
    fn errors_say_what_is_expected() {
        for bad in [
            "",
            "   ",
            "abc",
            &"zz".repeat(32),
            "AAECAwQ=",
            &"0".repeat(63),
        ] {
            let err = parse_key(bad).unwrap_err().to_string();
            assert!(err.contains("64 hexadecimal characters"), "{bad:?}: {err}");
        }
        let short = parse_key("AAECAwQ=").unwrap_err().to_string();
        assert!(short.contains("5 bytes"), "{short}");
    }
}
