-- A stored event's key and day are immutable. An UPDATE of received_at across days moves the
-- row to another partition, which Postgres does as DELETE + INSERT: the INSERT's key claim
-- (logistica_claim_event_key) then finds the row's own key taken and skips the row, and the event
-- is gone. Changing namespace, source or event_digest would leave external_event_keys stale.
-- Refuse both with a clear error instead.
CREATE FUNCTION logistica_event_keys_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.received_at IS DISTINCT FROM OLD.received_at
       OR NEW.namespace IS DISTINCT FROM OLD.namespace
       OR NEW.source IS DISTINCT FROM OLD.source
       OR NEW.event_digest IS DISTINCT FROM OLD.event_digest THEN
        RAISE EXCEPTION 'external_events: received_at, namespace, source and event_digest of a stored event cannot change (event id %)', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER external_events_keys_immutable BEFORE UPDATE ON external_events
    FOR EACH ROW EXECUTE FUNCTION logistica_event_keys_immutable();
