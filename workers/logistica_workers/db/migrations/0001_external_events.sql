-- Webhook events, stored once per (namespace, source, event_id).
CREATE TABLE external_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    namespace   text        NOT NULL DEFAULT '',
    event_id    text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    headers     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    payload     jsonb       NOT NULL,
    CONSTRAINT external_events_source_event_id_key UNIQUE (namespace, source, event_id)
);
CREATE INDEX external_events_received_at_idx ON external_events (received_at);
