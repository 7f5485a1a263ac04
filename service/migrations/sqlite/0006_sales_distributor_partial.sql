-- Most sales go to the partner directly: index only those that went through a distributor, so
-- that importing direct sales does not maintain an index entry they never use.
-- Keep in step with the other database's folder.

DROP INDEX sales_distributor;
CREATE INDEX sales_distributor ON sales (distributor_id, booked_on) WHERE distributor_id IS NOT NULL;
