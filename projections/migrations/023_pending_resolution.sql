-- Records whose persons a live batch may have changed, waiting for the resolver (a worker's
-- own task beside its batches, so that a batch commits without waiting on matching).
-- Appended in the batch's transaction (never updated, so a batch never waits on the
-- resolver), deleted in the resolver's transaction with the decisions it made: a crash
-- between them leaves the rows here, decided after the restart; a record touched again
-- while it is being decided has a newer row, decided next. Not part of the rebuilt model:
-- a rebuild never decides, it replays decisions.
CREATE TABLE pending_resolution (
    seq    bigserial PRIMARY KEY,
    record text NOT NULL
);
