-- As-of reads for the replay tool (contract section 8): the read model as the hub knew it
-- at any instant. Every table a read touches is system-versioned:
--   * each row carries `known_from`, when the hub took in what wrote it: the batch's latest
--     log time (set per transaction in `hub.known_at` by the projector: projections/store.py),
--     or, for the resolver, the time of its decisions;
--   * an update or a delete first copies the row as it was into `<table>_history`, with
--     `known_to`, the instant it stopped being true (an unchanged update copies nothing).
-- Reads stay the same SQL: the schema `<schema>_asof` holds one view per table with the
-- table's name and columns, showing the versions in force at `hub.as_of` (and, for facts and
-- timelines, stated by agencies by `hub.happened_by`); a replay read runs the live read with
-- that schema first on its search_path. Rows from before this migration are known since
-- '-infinity' (when is not recorded); a rebuild from the log gives them their times.

CREATE FUNCTION hub_known_at() RETURNS timestamptz LANGUAGE sql STABLE AS
$$ SELECT coalesce(nullif(current_setting('hub.known_at', true), '')::timestamptz, now()) $$;

DO $$
DECLARE
    s text := current_schema();
    t text;
    updated text[] := ARRAY['entity_field', 'entity_member', 'record_link', 'mention',
                            'person_edge', 'case_edge', 'case_thread'];
BEGIN
    FOREACH t IN ARRAY ARRAY['entity_field', 'entity_member', 'record_link', 'mention',
                             'person_edge', 'case_edge', 'case_thread', 'person_node',
                             'event_entity', 'resolution_decision', 'event_archive'] LOOP
        EXECUTE format('ALTER TABLE %I.%I ADD COLUMN known_from timestamptz NOT NULL'
                       ' DEFAULT ''-infinity''', s, t);
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN known_from SET DEFAULT %I.hub_known_at()',
                       s, t, s);
    END LOOP;
    FOREACH t IN ARRAY updated LOOP
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I, known_to timestamptz NOT NULL)',
                       s, t || '_history', s, t);
        -- One function per table, so its INSERT is planned once (no dynamic SQL per row).
        EXECUTE format($f$
            CREATE FUNCTION %1$I.%2$I() RETURNS trigger LANGUAGE plpgsql AS $body$
            DECLARE at timestamptz := %1$I.hub_known_at();
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    IF NEW IS NOT DISTINCT FROM OLD THEN
                        RETURN NEW;
                    END IF;
                    at := greatest(at, OLD.known_from);
                    NEW.known_from := at;
                END IF;
                IF OLD.known_from < at THEN
                    INSERT INTO %1$I.%3$I SELECT OLD.*, at;
                END IF;
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                RETURN NEW;
            END $body$ $f$, s, t || '_version', t || '_history');
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I.%I'
                       ' FOR EACH ROW EXECUTE FUNCTION %I.%I()',
                       t || '_version', s, t, s, t || '_version');
    END LOOP;
END
$$;

CREATE INDEX entity_field_history_key ON entity_field_history (entity_kind, entity_id, field);
CREATE INDEX entity_member_history_key
    ON entity_member_history (entity_kind, entity_id, relation, member);
CREATE INDEX entity_member_history_reverse ON entity_member_history (relation, member);
CREATE INDEX record_link_history_key ON record_link_history (agency, kind, record_id);
CREATE INDEX record_link_history_entity ON record_link_history (entity_kind, entity_id);
CREATE INDEX mention_history_key ON mention_history (record);
CREATE INDEX person_edge_history_key ON person_edge_history (src, dst);
CREATE INDEX case_edge_history_key ON case_edge_history (src, dst);
CREATE INDEX case_thread_history_key ON case_thread_history (case_id);
CREATE INDEX case_thread_history_thread ON case_thread_history (thread_id, case_id);

-- The views. `hub.as_of` is required (a replay read sets it); `hub.happened_by` is optional.
DO $$
DECLARE
    s text := current_schema();
    a text := left(current_schema(), 58) || '_asof';
    t text;
    cols text;
    k text := 'known_from <= current_setting(''hub.as_of'')::timestamptz';
    h text := 'time <= coalesce(nullif(current_setting(''hub.happened_by'', true), '''')'
              '::timestamptz, ''infinity'')';
BEGIN
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', a);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO civic_hub_api, civic_hub_auditor', a);
    -- Plain tables: the version in force at the instant (current rows known by then, and
    -- history rows known by then and superseded after it).
    FOREACH t IN ARRAY ARRAY['record_link', 'mention', 'person_edge', 'case_edge',
                             'case_thread'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
        FROM pg_attribute WHERE attrelid = format('%I.%I', s, t)::regclass
        AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS SELECT %s FROM %I.%I WHERE %s'
                       ' UNION ALL SELECT %s FROM %I.%I WHERE %s'
                       ' AND known_to > current_setting(''hub.as_of'')::timestamptz',
                       a, t, cols, s, t, k, cols, s, t || '_history', k);
    END LOOP;
    -- Append-only tables: rows known by then (timelines also by the agencies' time).
    FOREACH t IN ARRAY ARRAY['person_node', 'resolution_decision', 'event_entity',
                             'event_archive'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
        FROM pg_attribute WHERE attrelid = format('%I.%I', s, t)::regclass
        AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('CREATE OR REPLACE VIEW %I.%I AS SELECT %s FROM %I.%I WHERE %s%s',
                       a, t, cols, s, t, k,
                       CASE WHEN t IN ('event_entity', 'event_archive') THEN ' AND ' || h
                       ELSE '' END);
    END LOOP;
    -- Facts: a field's value is the latest statement (by the agencies' time, then source and
    -- id) known by then and stated by happened_by; a member's, the earliest. Updates only
    -- ever move a field later and a member earlier, so without happened_by this is exactly
    -- the version in force; with it, an earlier version the hub had taken in stands in for
    -- a later statement (a statement that never won is not kept, and cannot be shown).
    FOREACH t IN ARRAY ARRAY['entity_field', 'entity_member'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
        FROM pg_attribute WHERE attrelid = format('%I.%I', s, t)::regclass
        AND attnum > 0 AND NOT attisdropped;
        EXECUTE format(
            'CREATE OR REPLACE VIEW %1$I.%2$I AS SELECT %3$s FROM %4$I.%2$I WHERE %5$s AND %6$s'
            ' UNION ALL SELECT %3$s FROM %4$I.%7$I v WHERE %5$s AND %6$s AND NOT EXISTS ('
            ' SELECT 1 FROM %4$I.%2$I w WHERE %8$s AND w.%5$s AND w.%6$s'
            ' UNION ALL SELECT 1 FROM %4$I.%7$I w WHERE %8$s AND w.%5$s AND w.%6$s'
            ' AND (w.time, w.source, w.event_id) %9$s (v.time, v.source, v.event_id))',
            a, t, cols, s, k, h, t || '_history',
            CASE WHEN t = 'entity_field'
                THEN 'w.entity_kind = v.entity_kind AND w.entity_id = v.entity_id'
                     ' AND w.field = v.field'
                ELSE 'w.entity_kind = v.entity_kind AND w.entity_id = v.entity_id'
                     ' AND w.relation = v.relation AND w.member = v.member' END,
            CASE WHEN t = 'entity_field' THEN '>' ELSE '<' END);
    END LOOP;
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO civic_hub_api, civic_hub_auditor',
                   a);
    -- Sealing is the policy's, now: a thread sealed since the instant asked is masked too.
    -- The live schema's answer is "nothing more"; the as-of schema's, the live sealing.
    EXECUTE format('CREATE OR REPLACE FUNCTION %I.hub_sealed_now(thread text) RETURNS jsonb'
                   ' LANGUAGE sql STABLE AS $f$ SELECT NULL::jsonb $f$', s);
    EXECUTE format(
        'CREATE OR REPLACE FUNCTION %1$I.hub_sealed_now(thread text) RETURNS jsonb'
        ' LANGUAGE sql STABLE AS $f$ SELECT f.value FROM %2$I.case_thread st'
        ' JOIN %2$I.entity_field f ON f.entity_kind = ''case'' AND f.entity_id = st.case_id'
        ' AND f.field = ''sealed'' WHERE st.thread_id = thread'
        ' ORDER BY f.time DESC, f.source DESC, f.event_id DESC LIMIT 1 $f$', a, s);
END
$$;
