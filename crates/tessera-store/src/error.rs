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
    /// A row the code cannot read (a status it does not know, bad JSON).
    #[error("unreadable data in the database: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            other => StoreError::Database(other),
        }
    }
}
