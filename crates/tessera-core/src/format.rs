//! The token format: `<prefix><secret><checksum>`, and two compatibility
//! formats for deployments that must accept tokens shaped like another
//! product's.
//!
//! | format        | shape                                  | entropy   | checksum |
//! |---------------|----------------------------------------|-----------|----------|
//! | `checksummed` | prefix + 30 base62 + 6 base62 CRC32    | 178 bits  | yes      |
//! | `hex`         | prefix + 64 lowercase hex              | 256 bits  | no       |
//! | `id-pipe`     | `{id}|` + prefix + 40 base62           | 238 bits  | no       |
//!
//! The checksum is GitHub's scheme: CRC32 of `prefix + secret`, written in
//! base62 at a fixed width, so a secret scanner or the verifier itself can
//! reject a mistyped or made-up token without a database look-up.

use serde::{Deserialize, Serialize};

use crate::base62;
use crate::secret::PlaintextToken;

/// Base62 characters of secret in a checksummed token: 30 × log2(62) ≈ 178 bits.
pub const CHECKSUMMED_SECRET_LEN: usize = 30;
/// Base62 characters that hold a CRC32 (62^6 > 2^32).
pub const CHECKSUM_LEN: usize = 6;
/// Hex characters of secret in a hex token: 256 bits.
pub const HEX_SECRET_LEN: usize = 64;
/// Base62 characters of secret in an id-pipe token, as Laravel Sanctum uses.
pub const ID_PIPE_SECRET_LEN: usize = 40;
/// The longest id accepted before the `|` of an id-pipe token.
pub const ID_PIPE_MAX_ID_LEN: usize = 64;
/// No supported token is longer; anything longer is rejected before any work.
pub const MAX_TOKEN_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenFormat {
    Checksummed,
    Hex,
    IdPipe,
}

impl TokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFormat::Checksummed => "checksummed",
            TokenFormat::Hex => "hex",
            TokenFormat::IdPipe => "id-pipe",
        }
    }
}

/// What a token is shaped like: the part of a credential kind the format needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenShape {
    pub prefix: String,
    pub format: TokenFormat,
}

/// Generates a new token. `id` is the token record's public id; only the
/// id-pipe format writes it into the token.
pub fn generate(shape: &TokenShape, id: &str) -> PlaintextToken {
    let token = match shape.format {
        TokenFormat::Checksummed => {
            let body = format!("{}{}", shape.prefix, base62::random(CHECKSUMMED_SECRET_LEN));
            let checksum = checksum(&body);
            body + &checksum
        }
        TokenFormat::Hex => {
            let mut bytes = [0u8; HEX_SECRET_LEN / 2];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            format!("{}{}", shape.prefix, hex::encode(bytes))
        }
        TokenFormat::IdPipe => format!(
            "{id}|{}{}",
            shape.prefix,
            base62::random(ID_PIPE_SECRET_LEN)
        ),
    };
    PlaintextToken::new(token)
}

/// The CRC32 of `prefix + secret` in fixed-width base62.
pub fn checksum(prefix_and_secret: &str) -> String {
    String::from_utf8(checksum_bytes(prefix_and_secret).to_vec()).expect("base62 is ASCII")
}

fn checksum_bytes(prefix_and_secret: &str) -> [u8; CHECKSUM_LEN] {
    let mut out = [0; CHECKSUM_LEN];
    base62::encode_fixed_into(
        u64::from(crc32fast::hash(prefix_and_secret.as_bytes())),
        &mut out,
    );
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the token is empty")]
    Empty,
    #[error("the token is longer than any token this server issues")]
    TooLong,
    #[error("the token does not start with a known prefix")]
    UnknownPrefix,
    #[error("the token has the wrong length for its kind")]
    WrongLength,
    #[error("the token contains characters its kind never uses")]
    WrongCharset,
    #[error("the token's checksum does not match: it was mistyped or made up")]
    BadChecksum,
}

/// A token whose shape matched one of the shapes it was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    /// Index into the shapes passed to [`parse`].
    pub shape_index: usize,
    /// The whole token, as presented; this is what gets hashed.
    pub token: &'a str,
    /// The id before the `|` of an id-pipe token.
    pub id_part: Option<&'a str>,
}

/// Recognises which shape `input` has and checks it completely: prefix,
/// length, charset and checksum. Does no I/O. When several prefixes match
/// (`groo_pat_` and `groo_`), the longest that parses wins.
pub fn parse<'a>(input: &'a str, shapes: &[TokenShape]) -> Result<ParsedToken<'a>, ParseError> {
    if input.is_empty() {
        return Err(ParseError::Empty);
    }
    if input.len() > MAX_TOKEN_LEN {
        return Err(ParseError::TooLong);
    }
    // Longest prefix first (`groo_pat_` before `groo_`), shapes of equal
    // prefix length in the order given; the first candidate's error is the
    // one reported. No allocation: this runs on every presented token.
    let mut first_error = None;
    let mut shorter_than = usize::MAX;
    while let Some(len) = shapes
        .iter()
        .filter(|s| s.prefix.len() < shorter_than && starts_with_prefix(input, s))
        .map(|s| s.prefix.len())
        .max()
    {
        let same_length = shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.prefix.len() == len && starts_with_prefix(input, s));
        for (i, shape) in same_length {
            match parse_as(input, shape) {
                Ok(id_part) => {
                    return Ok(ParsedToken {
                        shape_index: i,
                        token: input,
                        id_part,
                    })
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        shorter_than = len;
    }
    Err(first_error.unwrap_or(ParseError::UnknownPrefix))
}

fn starts_with_prefix(input: &str, shape: &TokenShape) -> bool {
    match shape.format {
        TokenFormat::IdPipe => input
            .split_once('|')
            .is_some_and(|(_, rest)| rest.starts_with(&shape.prefix)),
        _ => input.starts_with(&shape.prefix),
    }
}

fn parse_as<'a>(input: &'a str, shape: &TokenShape) -> Result<Option<&'a str>, ParseError> {
    match shape.format {
        TokenFormat::Checksummed => {
            let rest = &input[shape.prefix.len()..];
            if rest.len() != CHECKSUMMED_SECRET_LEN + CHECKSUM_LEN {
                return Err(ParseError::WrongLength);
            }
            if !base62::is_base62(rest) {
                return Err(ParseError::WrongCharset);
            }
            let split = input.len() - CHECKSUM_LEN;
            let expected = checksum_bytes(&input[..split]);
            if !crate::hash::constant_time_eq(&expected, &input.as_bytes()[split..]) {
                return Err(ParseError::BadChecksum);
            }
            Ok(None)
        }
        TokenFormat::Hex => {
            let rest = &input[shape.prefix.len()..];
            if rest.len() != HEX_SECRET_LEN {
                return Err(ParseError::WrongLength);
            }
            if !rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ParseError::WrongCharset);
            }
            Ok(None)
        }
        TokenFormat::IdPipe => {
            let (id, rest) = input.split_once('|').ok_or(ParseError::UnknownPrefix)?;
            if id.is_empty() || id.len() > ID_PIPE_MAX_ID_LEN {
                return Err(ParseError::WrongLength);
            }
            if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ParseError::WrongCharset);
            }
            let secret = &rest[shape.prefix.len()..];
            if secret.len() != ID_PIPE_SECRET_LEN {
                return Err(ParseError::WrongLength);
            }
            if !base62::is_base62(secret) {
                return Err(ParseError::WrongCharset);
            }
            Ok(Some(id))
        }
    }
}

/// The first `len` characters: shown to the owner to recognise a token. For
/// id-pipe tokens the non-secret part is the id and the prefix, so the
/// display prefix never reaches into the secret further than `len` allows.
pub fn display_prefix(token: &str, len: usize) -> String {
    token.chars().take(len).collect()
}

/// The last four characters, shown beside the display prefix.
pub fn last4(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shape(prefix: &str, format: TokenFormat) -> TokenShape {
        TokenShape {
            prefix: prefix.into(),
            format,
        }
    }

    fn default_shapes() -> Vec<TokenShape> {
        vec![
            shape("tsr_pat_", TokenFormat::Checksummed),
            shape("tsr_key_", TokenFormat::Checksummed),
            shape("groo_pat_", TokenFormat::Hex),
            shape("groo_", TokenFormat::Checksummed),
            shape("", TokenFormat::IdPipe),
        ]
    }

    #[test]
    fn a_checksummed_token_has_prefix_secret_and_checksum() {
        let token = generate(&shape("tsr_pat_", TokenFormat::Checksummed), "tok_1");
        let t = token.expose();
        assert!(t.starts_with("tsr_pat_"));
        assert_eq!(t.len(), 8 + CHECKSUMMED_SECRET_LEN + CHECKSUM_LEN);
        assert_eq!(&t[t.len() - 6..], checksum(&t[..t.len() - 6]));
    }

    #[test]
    fn a_hex_token_is_prefix_and_64_lowercase_hex() {
        let token = generate(&shape("groo_pat_", TokenFormat::Hex), "tok_1");
        let rest = token.expose().strip_prefix("groo_pat_").unwrap();
        assert_eq!(rest.len(), 64);
        assert!(rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn an_id_pipe_token_carries_its_id() {
        let shapes = default_shapes();
        let token = generate(&shapes[4], "42");
        let parsed = parse(token.expose(), &shapes).unwrap();
        assert_eq!(parsed.shape_index, 4);
        assert_eq!(parsed.id_part, Some("42"));
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let shapes = default_shapes();
        let pat = generate(&shapes[2], "x");
        let app = generate(&shapes[3], "x");
        assert_eq!(parse(pat.expose(), &shapes).unwrap().shape_index, 2);
        assert_eq!(parse(app.expose(), &shapes).unwrap().shape_index, 3);
    }

    #[test]
    fn rejects_before_any_lookup() {
        let shapes = default_shapes();
        assert_eq!(parse("", &shapes), Err(ParseError::Empty));
        assert_eq!(
            parse(&"a".repeat(10_000), &shapes),
            Err(ParseError::TooLong)
        );
        assert_eq!(parse("ghp_abc", &shapes), Err(ParseError::UnknownPrefix));
        assert_eq!(
            parse("tsr_pat_short", &shapes),
            Err(ParseError::WrongLength)
        );
        let wrong_charset = format!("tsr_pat_{}", "-".repeat(36));
        assert_eq!(
            parse(&wrong_charset, &shapes),
            Err(ParseError::WrongCharset)
        );
        let bad_sum = format!("tsr_pat_{}", "A".repeat(36));
        assert_eq!(parse(&bad_sum, &shapes), Err(ParseError::BadChecksum));
    }

    #[test]
    fn display_prefix_and_last4() {
        assert_eq!(display_prefix("tsr_pat_abcdefgh", 12), "tsr_pat_abcd");
        assert_eq!(last4("tsr_pat_abcdefgh"), "efgh");
        assert_eq!(last4("ab"), "ab");
    }

    proptest! {
        #[test]
        fn generated_tokens_round_trip(which in 0usize..5, id in "[0-9]{1,8}") {
            let shapes = default_shapes();
            let token = generate(&shapes[which], &id);
            let parsed = parse(token.expose(), &shapes).unwrap();
            prop_assert_eq!(parsed.shape_index, which);
            prop_assert_eq!(parsed.token, token.expose());
        }

        #[test]
        fn any_single_character_change_fails_the_checksum(pos in 0usize..36, replacement in 0usize..62) {
            let shapes = default_shapes();
            let token = generate(&shapes[0], "x");
            let mut bytes = token.expose().as_bytes().to_vec();
            let index = 8 + pos;
            let new = base62::ALPHABET[replacement];
            prop_assume!(bytes[index] != new);
            bytes[index] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(parse(&changed, &shapes[..1]).is_err());
        }

        #[test]
        fn random_strings_never_parse(s in "\\PC{0,80}") {
            let shapes: Vec<_> = default_shapes().into_iter().filter(|s| s.format == TokenFormat::Checksummed).collect();
            prop_assert!(parse(&s, &shapes).is_err());
        }

        #[test]
        fn random_base62_bodies_with_a_valid_prefix_almost_never_parse(body in "[0-9A-Za-z]{36}") {
            // One in 2^32 random bodies carries a valid CRC32 by chance; proptest
            // draws a few hundred, so a pass here means the checksum is checked.
            let shapes = default_shapes();
            let candidate = format!("tsr_pat_{body}");
            prop_assert_eq!(parse(&candidate, &shapes[..1]), Err(ParseError::BadChecksum));
        }
    }
}
