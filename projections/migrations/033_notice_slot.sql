-- Which notice of its thread a claim is, without the thread's id (issue 13): kind, stage,
-- round of the clock, level and rules. A thread's id is its oldest node, so it changes when
-- an older record joins the thread late (projections/rows.rethread); the notice ids raised
-- under the old id no longer match the new ones. The sweep reads the claims of every node of
-- the thread (each old id was one of its nodes) and skips a notice whose slot was raised, so
-- a notice stays raised once per thread, stage, kind and level. Claims from before this
-- migration have no slot: they match by id, as before.
ALTER TABLE notice_claim ADD COLUMN slot text;
