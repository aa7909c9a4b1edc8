//! Who a page is for: the signed-in user, their session, and where they
//! are. The extractor that finds them is in `forms`; the error pages shown
//! within their navigation are in `layout`.

use tessera_store::{Session, User};

use crate::client::ClientInfo;
use crate::principal::Caller;

/// A signed-in browser on a page. Without a live session, a page answers
/// with a redirect to `/login`.
#[derive(Debug, Clone)]
pub struct Signed {
    pub user: User,
    pub session: Session,
    pub client: ClientInfo,
}

impl Signed {
    /// The same caller the API sees for this session.
    pub fn caller(&self) -> Caller {
        Caller::Session {
            user: Box::new(self.user.clone()),
            session: Box::new(self.session.clone()),
        }
    }
}
