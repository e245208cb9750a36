-- One thread, one id everywhere: each case node carries the id of its thread (the thread's
-- oldest node, by opened_at then id: what GET /v1/cases/{id} answers as case_id), kept by
-- the projector whenever a node is new, opens earlier, or threads join. Lists, the grid
-- board and a person's cases[] read threads through it.
ALTER TABLE case_thread ADD COLUMN thread_id text;
WITH RECURSIVE comp(origin, node) AS (
    SELECT case_id, case_id FROM case_thread
    UNION SELECT c.origin, e.dst FROM comp c JOIN case_edge e ON e.src = c.node
), canon AS (
    SELECT DISTINCT ON (c.origin) c.origin, t.case_id AS tid FROM comp c
    JOIN case_thread t ON t.case_id = c.node ORDER BY c.origin, t.opened_at, t.case_id
)
UPDATE case_thread t SET thread_id = canon.tid FROM canon WHERE t.case_id = canon.origin;
CREATE INDEX case_thread_thread ON case_thread (thread_id, case_id);
