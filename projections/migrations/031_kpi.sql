-- The KPI report reads the event archive (projections/reads/kpi.py): the city cases first
-- reported in a window, then every event of each. Not compared by `rebuild --verify`
-- (indexes only).
CREATE INDEX event_archive_city_reported ON event_archive (time)
    WHERE type = 'city.case.reported' AND agency = 'city';
CREATE INDEX event_archive_city_case ON event_archive ((data->>'case_id'), time)
    WHERE agency = 'city';
