-- The login a session belongs to, copied from the session data on every
-- write (app/web/sessionstore.go), so that reading a session also reads its
-- login and tenant in the same statement. NULL for anonymous and
-- half-signed-in sessions and for rows written before this column existed;
-- those load the login with a query of its own, as before. No foreign key: a
-- deleted login just yields no join row, and its session is ended by the
-- check that follows. The data stays the authority: the login read through
-- this column is used only when its id is the one in the session data.
ALTER TABLE sessions ADD COLUMN login_id TEXT;
