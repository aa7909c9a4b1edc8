//! The first start: an empty store gets the admin user `admin`, with the
//! password from `TESSERA_ADMIN_PASSWORD` or a random one printed once.

use std::sync::Arc;

use tessera_core::base62;
use tessera_store::Store;

use crate::error::AppResult;
use crate::principal::Actor;
use crate::service::users::Users;

pub const FIRST_ADMIN: &str = "admin";

/// Who was created on the first start, and with which password when it was
/// generated (the caller prints it once).
pub struct FirstAdmin {
    pub username: String,
    pub generated_password: Option<String>,
}

#[derive(Clone)]
pub struct Bootstrap {
    store: Arc<dyn Store>,
    users: Users,
}

impl Bootstrap {
    pub fn new(store: Arc<dyn Store>, users: Users) -> Self {
        Bootstrap { store, users }
    }

    /// Creates the first admin if the store has no users; otherwise nothing.
    pub async fn ensure_first_admin(
        &self,
        password_from_env: Option<String>,
    ) -> AppResult<Option<FirstAdmin>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password_from_env.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => {
                let p = base62::random(20);
                (p.clone(), true)
            }
        };
        self.users
            .create(
                FIRST_ADMIN,
                password.clone(),
                true,
                Some("Administrator".into()),
                &Actor::cli(),
            )
            .await?;
        Ok(Some(FirstAdmin {
            username: FIRST_ADMIN.into(),
            generated_password: generated.then_some(password),
        }))
    }
}
