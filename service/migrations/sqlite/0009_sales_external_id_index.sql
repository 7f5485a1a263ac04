-- A sale's external id is unique through a named index instead of a column constraint, so that a
-- bulk load (an import larger than the whole table) can drop it with the other indexes and
-- build it once, sorted, before its commit instead of row by row. SQLite cannot drop the index
-- behind a column constraint, hence the rebuild. Nothing references `sales`.
-- Postgres keeps its constraint: it never drops indexes for a load.

CREATE TABLE sales_rebuilt (
    id INTEGER PRIMARY KEY,
    -- Unique per source (`sales_external_id`): re-importing an external id updates the row,
    -- never duplicates it.
    external_id TEXT NOT NULL,
    partner_id INTEGER NOT NULL REFERENCES organisations (id),
    distributor_id INTEGER REFERENCES organisations (id),
    booked_on TEXT NOT NULL,
    product_line TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    customer_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO sales_rebuilt (id, external_id, partner_id, distributor_id, booked_on, product_line, amount_minor,
                           currency, customer_name, created_at, updated_at)
SELECT id, external_id, partner_id, distributor_id, booked_on, product_line, amount_minor,
       currency, customer_name, created_at, updated_at
FROM sales;
DROP TABLE sales;
ALTER TABLE sales_rebuilt RENAME TO sales;
CREATE UNIQUE INDEX sales_external_id ON sales (external_id);
CREATE INDEX sales_partner ON sales (partner_id, product_line, booked_on, amount_minor);
CREATE INDEX sales_distributor ON sales (distributor_id, booked_on) WHERE distributor_id IS NOT NULL;
