//! Checks shared by the integration test crates (`api`, `crash`).

use sqlx::AnyPool;

/// Every index of `sales`, and on Postgres every constraint, as `name: definition`, sorted by
/// name. A bulk load drops some of them inside its transaction and builds them again before the
/// commit, so after any load, refused or crashed or stored, this must read as before it.
pub async fn sales_schema(pool: &AnyPool, postgres: bool) -> Vec<String> {
    let sql = if postgres {
        "SELECT CAST(indexname AS TEXT) || ': ' || indexdef FROM pg_indexes WHERE tablename = 'sales' \
         UNION ALL SELECT CAST(conname AS TEXT) || ': ' || pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE conrelid = 'sales'::regclass ORDER BY 1"
    } else {
        "SELECT name || ': ' || COALESCE(sql, '') FROM sqlite_master WHERE tbl_name = 'sales' ORDER BY name"
    };
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}
