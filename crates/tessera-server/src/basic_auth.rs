//! Reading a token from HTTP Basic credentials (RFC 7617), for clients that
//! can only send a username and password: git, Docker, Maven. The username
//! is ignored (GitHub and GitLab take any); the password is the token. No
//! I/O here: `auth` decides whether the token's kind accepts Basic.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// The longest encoded credentials read: far beyond any token with a
/// username, short enough that decoding costs nothing.
pub const MAX_ENCODED_LEN: usize = 1024;

/// Standard base64, with or without the trailing `=` (clients differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why Basic credentials carry no token. The messages say what to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BasicError {
    #[error("The Basic credentials are longer than {MAX_ENCODED_LEN} characters: send `Authorization: Basic base64(<any username>:<token>)`.")]
    Oversized,
    #[error("The Basic credentials are not base64: send `Authorization: Basic base64(<any username>:<token>)`.")]
    NotBase64,
    #[error("The Basic credentials are not UTF-8 text: send `Authorization: Basic base64(<any username>:<token>)`.")]
    NotText,
    #[error("The Basic credentials have no `:` between username and password: send `Authorization: Basic base64(<any username>:<token>)`.")]
    NoColon,
    #[error("The Basic credentials have an empty password: the password is the token.")]
    EmptyPassword,
}

/// The token sent as the password of the credentials `encoded` (what
/// follows `Basic ` in the header).
pub fn password(encoded: &str) -> Result<String, BasicError> {
    let encoded = encoded.trim();
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(BasicError::Oversized);
    }
    let decoded = BASE64.decode(encoded).map_err(|_| BasicError::NotBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::NotText)?;
    // The user-id cannot hold a colon (RFC 7617 §2); the password may.
    let (_, password) = text.split_once(':').ok_or(BasicError::NoColon)?;
    if password.is_empty() {
        return Err(BasicError::EmptyPassword);
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn the_password_is_the_token_whatever_the_username() {
        assert_eq!(
            password(&encode("x-token:tsr_pat_abc")).unwrap(),
            "tsr_pat_abc"
        );
        assert_eq!(password(&encode(":tsr_pat_abc")).unwrap(), "tsr_pat_abc");
        // A password may hold colons (an id-pipe token might).
        assert_eq!(password(&encode("git:a:b|c")).unwrap(), "a:b|c");
        // Padding may be left off.
        let unpadded = encode("u:tok").trim_end_matches('=').to_owned();
        assert_eq!(password(&unpadded).unwrap(), "tok");
    }

    #[test]
    fn malformed_credentials_are_named() {
        assert_eq!(password("%%%not base64"), Err(BasicError::NotBase64));
        assert_eq!(password(&encode("no colon here")), Err(BasicError::NoColon));
        assert_eq!(password(&encode("user:")), Err(BasicError::EmptyPassword));
        assert_eq!(password(""), Err(BasicError::NoColon));
        let latin1 = base64::engine::general_purpose::STANDARD.encode([b'u', b':', 0xff]);
        assert_eq!(password(&latin1), Err(BasicError::NotText));
        let long = encode(&format!("u:{}", "a".repeat(MAX_ENCODED_LEN)));
        assert_eq!(password(&long), Err(BasicError::Oversized));
    }

    proptest! {
        /// Any user and non-empty password round-trip.
        #[test]
        fn credentials_round_trip(user in "[^:]{0,20}", pass in ".{1,40}") {
            prop_assert_eq!(password(&encode(&format!("{user}:{pass}"))).unwrap(), pass);
        }
    }
}
