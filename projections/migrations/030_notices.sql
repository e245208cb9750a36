-- Coordination notices (CONTRACT.md section 7, issue 13). Not part of the projection proper
-- (a rebuild reproduces the notices themselves, archived from hub.coordination), so
-- `rebuild --verify` compares neither table.
--
-- thread_due: per thread (case_thread.thread_id), the instant its next notice not raised
-- yet falls due; NULL when none is pending (closed, or everything raised). The projector
-- recomputes it for the threads each batch touches; the sweeper takes the rows that fell
-- due (FOR UPDATE SKIP LOCKED), raises their notices and moves them on. The partial index
-- holds open threads only, so a sweep costs the same however many cases are closed.
CREATE TABLE thread_due (
    thread_id text PRIMARY KEY,
    due_at    timestamptz
);
CREATE INDEX thread_due_pending ON thread_due (due_at) WHERE due_at IS NOT NULL;

-- One row per notice ever raised, keyed by its deterministic id: inserted (if absent) in
-- the transaction that sends it, committed only after the broker acknowledged it.
CREATE TABLE notice_claim (
    notice_id  text PRIMARY KEY,
    thread_id  text NOT NULL,
    type       text NOT NULL,
    due_at     timestamptz NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notice_claim_thread ON notice_claim (thread_id);

-- A read model from before notices: every thread with a clock is looked at once.
INSERT INTO thread_due (thread_id, due_at)
SELECT DISTINCT t.thread_id, '-infinity'::timestamptz FROM case_thread t
JOIN entity_member m ON m.entity_kind = 'case' AND m.entity_id = t.case_id
    AND m.relation = 'clock'
WHERE t.thread_id IS NOT NULL;
