-- Every grid statement, count and bulk switch leaves out the end users of
-- archived customers with "customer_id NOT IN (the tenant's archived
-- customers)". Without an index of its own that list was found by reading
-- every customer of the tenant (100 customer rows, twice for a page with its
-- total); archived customers are few, and this index holds only them.
-- Measured on SQLite at 100,000 end users and 100 customers, the grid
-- statement for "registration complete, by expiry" went from 245 to 187 µs
-- on one connection.
CREATE INDEX customers_tenant_archived_idx ON customers (tenant_id, id) WHERE archived_at IS NOT NULL;
