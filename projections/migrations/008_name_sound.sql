-- Name search tolerant of the variants agencies write: each mention's name as it sounds
-- (projections/names.py), written by the projector beside the name.
ALTER TABLE mention ADD COLUMN sound text;
CREATE INDEX mention_sound ON mention (sound);
