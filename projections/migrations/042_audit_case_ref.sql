-- Replay reads (contract section 8) name the investigation they serve (X-Case-Ref): kept
-- with the read, and covered by the row's hash when present (hub/audit.py audit_values), so
-- an investigation can itself be investigated.
ALTER TABLE audit_log ADD COLUMN case_ref text;
CREATE INDEX audit_log_case_ref ON audit_log (case_ref) WHERE case_ref IS NOT NULL;
