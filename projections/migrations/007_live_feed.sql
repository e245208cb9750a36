-- The command center's live feed tails the archive in commit order. Each row remembers the
-- transaction that wrote it; a reader that takes the rows whose transaction id lies below
-- the oldest still-running transaction (pg_snapshot_xmin) sees every row exactly once,
-- whatever order concurrent projector transactions commit in. Not part of the projection
-- (a rebuild writes other transaction ids), so `rebuild --verify` does not compare it.
ALTER TABLE event_archive ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX event_archive_xid ON event_archive (xid);

-- Agencies' timestamps always carry an offset (schemas/common.json), so reading them as
-- timestamptz does not depend on the session's time zone: safe to index. The schema's
-- pattern lets an impossible date through (month 13): that reads as NULL, never as an
-- error that would stop the projector.
CREATE FUNCTION hub_ts(text) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN $1::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Cases by due time: which cases turn overdue between two instants.
CREATE INDEX entity_field_due ON entity_field (hub_ts(value #>> '{}'))
    WHERE entity_kind = 'case' AND field = 'due_at';
