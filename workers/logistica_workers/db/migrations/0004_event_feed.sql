-- The event feed (`logistica events`): a per-row transaction id orders the feed, and a NOTIFY
-- wakes long-polling readers when an insert commits.
--
-- tx is the inserting transaction's id. The feed serves a row only once tx is below the xmin
-- of the reading statement's snapshot, i.e. once every transaction that could still add a row
-- with a lower (tx, id) has settled; see the README ("Why the feed cannot skip").
-- Existing rows get this migration's id: all of them sort before any later insert.
ALTER TABLE external_events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX external_events_feed_idx ON external_events (tx, id);
CREATE INDEX external_events_feed_source_idx ON external_events (source, tx, id);

-- Delivered at COMMIT (never on rollback), once per inserting statement, whoever the writer is.
CREATE FUNCTION logistica_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('logistica_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER external_events_notify AFTER INSERT ON external_events
    FOR EACH STATEMENT EXECUTE FUNCTION logistica_notify_events();

-- Named consumers: the last acknowledged cursor of each (optional server-side offsets).
CREATE TABLE event_consumers (
    name        text        PRIMARY KEY,
    cursor_tx   xid8        NOT NULL DEFAULT '0',
    cursor_id   bigint      NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_consumers_name_check CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
);
