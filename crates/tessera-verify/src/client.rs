//! Who presented a token, as far as the engine needs to know: the address
//! and user agent noted with each use. Borrowed from the caller's request,
//! so a verification copies nothing.

/// The client of one verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Client<'a> {
    /// The client's address, as text.
    pub ip: Option<&'a str>,
    /// Its `User-Agent`, already cut to the length the caller keeps.
    pub user_agent: Option<&'a str>,
}

impl<'a> Client<'a> {
    pub fn new(ip: Option<&'a str>, user_agent: Option<&'a str>) -> Self {
        Client { ip, user_agent }
    }
}
