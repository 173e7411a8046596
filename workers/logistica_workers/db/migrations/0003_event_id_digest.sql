-- Idempotency keys of any length: uniqueness is on the SHA-256 of the key (a fixed 32 bytes
-- a btree always holds), the key itself is kept in full in event_id. Until now keys were cut to
-- 256 characters by the worker; rows stored so far keep the key they were stored under.
ALTER TABLE external_events ADD COLUMN event_digest bytea;
UPDATE external_events SET event_digest = sha256(convert_to(event_id, 'UTF8'));
ALTER TABLE external_events ALTER COLUMN event_digest SET NOT NULL;
ALTER TABLE external_events
    ADD CONSTRAINT external_events_source_event_digest_key UNIQUE (namespace, source, event_digest);
ALTER TABLE external_events DROP CONSTRAINT external_events_source_event_id_key;
-- Replay windows (spec.replayWindowSeconds): the SHA-256 of the body, kept only for sources
-- with a window, so a signed body replayed under a fresh delivery id is recognised.
ALTER TABLE external_events ADD COLUMN body_digest bytea;
CREATE INDEX external_events_body_digest_idx ON external_events (namespace, source, body_digest)
    WHERE body_digest IS NOT NULL;
