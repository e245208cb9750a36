-- The grid board and lookups by value: which cases and places are in a grid, who lives at a
-- place now.
CREATE INDEX entity_field_by_value ON entity_field (field, value)
    WHERE field IN ('grid', 'current_place');
