-- The chronology (contract section 8) asks, for each event about its subjects, every entity
-- the event touched (to apply the policy: a sealed thread, a suspect's record); event_entity's
-- key starts with the entity, so that lookup needs the event first.
CREATE INDEX event_entity_event ON event_entity (source, event_id);
-- A replay export proves its events against the signed checkpoints: a stretch of one archive
-- chain, by seq.
CREATE INDEX event_archive_chain_seq ON event_archive (chain, chain_seq) WHERE chain IS NOT NULL;
