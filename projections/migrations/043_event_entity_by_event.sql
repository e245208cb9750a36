-- The chronology (contract section 8) asks, for each event about its subjects, every entity
-- the event touched (to apply the policy: a sealed thread, a suspect's record); event_entity's
-- key starts with the entity, so that lookup needs the event first.
CREATE INDEX event_entity_event ON event_entity (source, event_id);
