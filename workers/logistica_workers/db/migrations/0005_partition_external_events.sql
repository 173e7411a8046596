-- external_events partitioned by day of received_at (UTC), so that retention drops whole days.
--
-- Uniqueness across partitions: a partitioned table's unique index must include the partition
-- key, and (namespace, source, event_digest) alone cannot be one. The keys therefore live in
-- their own, unpartitioned table, external_event_keys, whose primary key is the idempotency key.
-- A BEFORE INSERT trigger on external_events claims the key there first (INSERT ... ON CONFLICT
-- DO NOTHING, which waits for a concurrent claim of the same key to commit or roll back) and
-- skips the row when the key was already claimed: exactly what ON CONFLICT DO NOTHING did, for
-- every writer. Retention deletes a key once its event is gone.
--
-- The move: one transaction holding an exclusive lock, rows copied with their id and tx (so
-- cursors and consumer offsets stay valid), counts checked before the old table is dropped.

LOCK TABLE external_events IN ACCESS EXCLUSIVE MODE;

CREATE TABLE external_events_new (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    source       text        NOT NULL,
    namespace    text        NOT NULL DEFAULT '',
    event_id     text        NOT NULL,
    event_digest bytea       NOT NULL,
    body_digest  bytea,
    received_at  timestamptz NOT NULL DEFAULT now(),
    tx           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    payload      jsonb       NOT NULL
) PARTITION BY RANGE (received_at);

-- a catch-all, so that no insert is ever refused for want of a partition (maintenance creates
-- each day ahead of time; a day whose rows reached the default stays there until retention)
CREATE TABLE external_events_default PARTITION OF external_events_new DEFAULT;

CREATE FUNCTION logistica_event_partition(day date, parent text DEFAULT 'external_events')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    name text := 'external_events_p' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
            name, parent,
            (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    END IF;
    RETURN name;
END
$$;

-- partitions for every day that has rows, and a week ahead
SELECT logistica_event_partition(d::date, 'external_events_new')
FROM generate_series(
    (SELECT coalesce(min(received_at), now()) AT TIME ZONE 'UTC' FROM external_events)::date,
    (now() AT TIME ZONE 'UTC')::date + 7,
    interval '1 day') AS d;

INSERT INTO external_events_new
    (id, source, namespace, event_id, event_digest, body_digest, received_at, tx, headers, payload)
OVERRIDING SYSTEM VALUE
SELECT id, source, namespace, event_id, event_digest, body_digest, received_at, tx, headers, payload
FROM external_events;

CREATE TABLE external_event_keys (
    namespace    text        NOT NULL,
    source       text        NOT NULL,
    event_digest bytea       NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (namespace, source, event_digest)
);
INSERT INTO external_event_keys (namespace, source, event_digest, received_at)
SELECT namespace, source, event_digest, received_at FROM external_events;
CREATE INDEX external_event_keys_received_at_idx ON external_event_keys (received_at);

DO $$
DECLARE
    old_count bigint := (SELECT count(*) FROM external_events);
    new_count bigint := (SELECT count(*) FROM external_events_new);
BEGIN
    IF old_count <> new_count THEN
        RAISE EXCEPTION 'partitioning external_events: % rows moved of %', new_count, old_count;
    END IF;
END
$$;

DROP TABLE external_events;
ALTER TABLE external_events_new RENAME TO external_events;
SELECT setval(pg_get_serial_sequence('external_events', 'id'),
              coalesce((SELECT max(id) FROM external_events), 0) + 1, false);

ALTER TABLE external_events ADD PRIMARY KEY (id, received_at);
CREATE INDEX external_events_feed_idx ON external_events (tx, id);
CREATE INDEX external_events_feed_source_idx ON external_events (source, tx, id);
CREATE INDEX external_events_key_idx ON external_events (namespace, source, event_digest);
CREATE INDEX external_events_body_digest_idx ON external_events (namespace, source, body_digest)
    WHERE body_digest IS NOT NULL;

CREATE FUNCTION logistica_claim_event_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO external_event_keys (namespace, source, event_digest, received_at)
    VALUES (NEW.namespace, NEW.source, NEW.event_digest, NEW.received_at)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;  -- the key is taken: skip the row, as ON CONFLICT DO NOTHING would
END
$$;
CREATE TRIGGER external_events_claim_key BEFORE INSERT ON external_events
    FOR EACH ROW EXECUTE FUNCTION logistica_claim_event_key();
CREATE TRIGGER external_events_notify AFTER INSERT ON external_events
    FOR EACH STATEMENT EXECUTE FUNCTION logistica_notify_events();
