-- Context for matching a party record that says little of its person (a grid member's note
-- of a party by name alone): the case node it belongs to, and the place of its case when the
-- event gave one. Records of one case thread, or a party and a resident of its case's place,
-- that name one person the same way are the same person unless something says otherwise
-- (projections/person_match.py, "mates").
ALTER TABLE mention ADD COLUMN case_node text, ADD COLUMN case_place text;
CREATE INDEX mention_case_sound ON mention (case_node, sound) WHERE case_node IS NOT NULL;
CREATE INDEX mention_case_place_sound ON mention (case_place, sound)
    WHERE case_place IS NOT NULL AND place_id IS NULL;
CREATE INDEX mention_place_sound ON mention (place_id, sound) WHERE place_id IS NOT NULL;
