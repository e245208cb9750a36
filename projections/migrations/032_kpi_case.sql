-- The KPI report's per-case summary (projections/reads/kpi.py, issue 13): each city case
-- judged once on every event it has, under the rules named in kpi_fold, so a report sums
-- rows instead of replaying every clock. Derived from event_archive alone and kept by
-- folding in the archive rows written since kpi_fold.mark (transaction ids, as the live feed
-- reads them): the cases those rows name are judged again from their full history. A case
-- with an event at or after a window's end is replayed from the archive as the window knew
-- it, so the answer is the one the archive gives (the report's test compares the two).
-- Not part of the projection (a rebuild writes other transaction ids and starts it empty),
-- so `rebuild --verify` compares neither table.
CREATE TABLE kpi_case (
    case_id             text PRIMARY KEY,
    reported_at         timestamptz,          -- the first city.case.reported; NULL: none yet
    last_at             timestamptz NOT NULL, -- the latest event of the case
    key_grid            text NOT NULL,
    key_street          text NOT NULL,
    key_agency          text NOT NULL,
    received            smallint NOT NULL,
    responded_on_time   smallint NOT NULL,
    solved              smallint NOT NULL,
    closed              smallint NOT NULL,
    closed_on_time      smallint NOT NULL,
    followed_up         smallint NOT NULL,
    satisfied           smallint NOT NULL,
    rework              smallint NOT NULL,
    extended            smallint NOT NULL,
    bounced             smallint NOT NULL,
    solved_lowest_level smallint NOT NULL
);
CREATE INDEX kpi_case_reported ON kpi_case (reported_at) WHERE reported_at IS NOT NULL;

-- One row: the archive rows with a transaction id below `mark` are folded in, judged under
-- the rules `rule_id`/`rule_version` (other rules fold everything again).
CREATE TABLE kpi_fold (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    mark         xid8,
    rule_id      text,
    rule_version integer
);
INSERT INTO kpi_fold (one) VALUES (true);

-- The fold's look-up of which cases changed: city rows by transaction id.
CREATE INDEX event_archive_city_xid ON event_archive (xid) WHERE agency = 'city';
