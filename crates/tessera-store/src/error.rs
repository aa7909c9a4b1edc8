//! The store's one error type. The server maps it to HTTP in one place.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text names what clashed.
    #[error("{0}")]
    Conflict(String),
    /// A configured limit (such as active tokens per user) was reached.
    #[error("limit reached")]
    LimitReached,
    /// The database cannot be reached: callers fail closed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A value the database refuses to store or compare (PostgreSQL's data
    /// exceptions, such as a NUL character in text): the caller's input.
    #[error("the database refused a value: {0}")]
    InvalidInput(String),
    /// A row the code cannot read (a status it does not know, bad JSON).
    #[error("unreadable data in the database: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The same failure, for a second caller of one shared query (a driver
    /// error cannot be cloned; its text is kept, and it still fails closed).
    pub(crate) fn copy_for_another_caller(&self) -> StoreError {
        match self {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::LimitReached => StoreError::LimitReached,
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::InvalidInput(m) => StoreError::InvalidInput(m.clone()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Database(e) => StoreError::Unavailable(e.to_string()),
            StoreError::Migration(e) => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(ref db) => match db.code().as_deref() {
                // PostgreSQL class 22: data exceptions, caused by the value given.
                Some(code) if code.starts_with("22") => {
                    StoreError::InvalidInput(db.message().to_owned())
                }
                // The database cannot answer now: class 08 (connection
                // exceptions), 53 (out of connections, memory or disk),
                // 57P01-03 (shutting down or restarting), 55000 (here: the
                // database does not accept connections), 3D000 (the database
                // is gone), 28 (the server refuses our credentials), and
                // SQLite's BUSY and LOCKED after the busy timeout.
                Some(code)
                    if code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("28")
                        || matches!(
                            code,
                            "57P01"
                                | "57P02"
                                | "57P03"
                                | "55000"
                                | "3D000"
                                | "5"
                                | "6"
                                | "517"
                                | "262"
                        ) =>
                {
                    StoreError::Unavailable(db.message().to_owned())
                }
                _ => StoreError::Database(e),
            },
            other => StoreError::Database(other),
        }
    }
}
