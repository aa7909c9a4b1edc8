//! Base62 (`0-9A-Za-z`): the alphabet of token secrets and checksums. It has no
//! punctuation, so a token survives double-click selection, URLs and shells.

use rand::rngs::OsRng;
use rand::Rng;

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from the alphabet with the OS CSPRNG.
pub fn random(len: usize) -> String {
    let mut rng = OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Encodes `value` in exactly `width` characters, most significant first,
/// left-padded with `0`. Panics in debug builds if the value does not fit.
pub fn encode_fixed(value: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    encode_fixed_into(value, &mut out);
    String::from_utf8(out).expect("alphabet is ASCII")
}

/// [`encode_fixed`] into a buffer whose length is the width.
pub fn encode_fixed_into(mut value: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    debug_assert_eq!(
        value,
        0,
        "value does not fit in {} base62 characters",
        out.len()
    );
}

pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fixed_width() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 2), "0z");
        assert_eq!(encode_fixed(62, 2), "10");
        assert_eq!(encode_fixed(u32::MAX as u64, 6), "4gfFC3");
    }

    #[test]
    fn random_is_base62_of_the_asked_length() {
        let s = random(40);
        assert_eq!(s.len(), 40);
        assert!(is_base62(&s));
        assert_ne!(s, random(40));
    }
}
