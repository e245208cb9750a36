-- One database role per part of the hub (contract section 9), on the embedded stack too:
--   civic_hub_projector  writes the read model (the stream workers);
--   civic_hub_api        reads it, and may INSERT audit rows but never UPDATE or DELETE them;
--   civic_hub_auditor    reads everything (`civic-hub audit verify`).
-- Roles belong to the cluster: created once, whichever database or schema migrates first;
-- the grants are per schema (a rebuild's schema and a test's database get their own). The
-- migration user needs CREATEROLE (a superuser on the embedded stack). On a real server,
-- give the roles passwords and their URLs (HUB_API_DATABASE_URL, …; README).
DO $$
DECLARE
    r text;
    s text := quote_ident(current_schema());
BEGIN
    FOREACH r IN ARRAY ARRAY['civic_hub_projector', 'civic_hub_api', 'civic_hub_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database migrating at the same moment made it
            END;
        END IF;
    END LOOP;
    EXECUTE 'GRANT USAGE ON SCHEMA ' || s
        || ' TO civic_hub_projector, civic_hub_api, civic_hub_auditor';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ' || s
        || ' TO civic_hub_projector';
    EXECUTE 'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ' || s
        || ' TO civic_hub_projector';
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA ' || s || ' TO civic_hub_api, civic_hub_auditor';
    -- Tables later migrations add: the same, unless they grant more themselves.
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA ' || s
        || ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO civic_hub_projector';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA ' || s
        || ' GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO civic_hub_projector';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA ' || s
        || ' GRANT SELECT ON TABLES TO civic_hub_api, civic_hub_auditor';
END
$$;

-- The audit is not the projector's, and the API only appends to it.
REVOKE INSERT, UPDATE, DELETE ON audit_log, audit_chain_head, chain_checkpoint
    FROM civic_hub_projector;
GRANT INSERT ON audit_log, chain_checkpoint TO civic_hub_api;
GRANT UPDATE ON audit_chain_head TO civic_hub_api;  -- its one head row, taken FOR UPDATE
GRANT USAGE ON SEQUENCE audit_log_id_seq, chain_checkpoint_id_seq TO civic_hub_api;
-- What the API writes besides: the gateway's claims on event keys.
GRANT INSERT ON gateway_seen TO civic_hub_api;
