-- Rebate runs sum sales per partner and product line, and tier evaluation per partner, product
-- line and day: with the line, date and amount in the partner index, both read the index in
-- order and never the table rows.
-- Keep in step with the other database's folder.

DROP INDEX sales_partner;
CREATE INDEX sales_partner ON sales (partner_id, product_line, booked_on, amount_minor);
