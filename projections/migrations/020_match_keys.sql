-- Blocking keys of the person matcher (projections/person_match.py), each able to answer
-- "the first 50 records by id with this key" from the index alone: how a name sounds (alone,
-- or with a birth date or a place), a phone, an identity number as written (a mistyped one
-- shared by two records), and its region and birth date part (a number mistyped after them).
CREATE INDEX mention_sound_record ON mention (sound, record);
CREATE INDEX mention_phone_record ON mention (phone, record);
CREATE INDEX mention_nid_record ON mention (national_id, record);
CREATE INDEX mention_nid_prefix ON mention (left(national_id, 14), record)
    WHERE national_id IS NOT NULL AND length(national_id) = 18;
DROP INDEX IF EXISTS mention_sound;
DROP INDEX IF EXISTS mention_phone;
