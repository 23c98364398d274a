//! PostgreSQL for the tests that run on it (`KAOS_TEST_POSTGRES`).

/// A fresh schema, dropped when the test ends however it ends.
pub struct Schema {
    admin: postgres::Client,
    pub name: String,
}

impl Schema {
    pub fn create(base: &str, name: &str) -> Schema {
        let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
        Schema { admin, name: name.into() }
    }

    pub fn rows(&mut self, table: &str) -> i64 {
        self.admin.query_one(&format!("SELECT count(*) FROM {}.{table}", self.name), &[]).unwrap().get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
    }
}
