-- When the hub took each event in (contract section 8, `known_at`): the time the log gave its
-- record, not the agency's `time`. From the log, so a rebuild sets the same value. Rows
-- archived before this column existed have none (a rebuild from the log fills them).
ALTER TABLE event_archive ADD COLUMN known_at timestamptz;
