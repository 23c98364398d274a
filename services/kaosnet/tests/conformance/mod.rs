//! The conformance suites' runner: `conformance!(test, …)` runs each test function on
//! the memory store, SQLite and (with `--features postgres` and `KAOS_TEST_POSTGRES`)
//! PostgreSQL, each in a store of its own.

/// A PostgreSQL store in a fresh schema of the server named by `KAOS_TEST_POSTGRES`
/// (`.ci/run` starts one); without it the test says it skipped, unless
/// `KAOS_REQUIRE_POSTGRES` is set.
#[cfg(feature = "postgres")]
pub fn postgres_store() -> Option<kaosnet::store::PostgresStore> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let Ok(base) = std::env::var("KAOS_TEST_POSTGRES") else {
        assert!(std::env::var_os("KAOS_REQUIRE_POSTGRES").is_none(), "KAOS_TEST_POSTGRES is not set");
        eprintln!("skipped: KAOS_TEST_POSTGRES is not set");
        return None;
    };
    let schema = format!("kaos_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut admin = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
    Some(kaosnet::store::PostgresStore::open(&format!("{base} options='-c search_path={schema}'")).unwrap())
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&kaosnet::store::MemoryStore::new()); })*
        }
        mod sqlite {
            $(#[test] fn $name() { super::$name(&kaosnet::store::SqliteStore::in_memory().unwrap()); })*
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[test] fn $name() {
                if let Some(store) = super::postgres_store() {
                    super::$name(&store);
                }
            })*
        }
    };
}
