-- An audit that proves itself (contract section 9): the audit log and the event archive are
-- hash chains (projections/chain.py), and signed checkpoints of their heads are kept.

-- The audit log: one chain in commit order. A writer takes the head row FOR UPDATE in its
-- insert transaction, so several API processes chain one after another.
ALTER TABLE audit_log ADD COLUMN seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE TABLE audit_chain_head (
    chain text   PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  bytea  NOT NULL
);
INSERT INTO audit_chain_head VALUES ('audit', 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- The archive: one chain per log partition it was first archived from (topic/partition),
-- in offset order, written in the batch transaction: a rebuild makes the same chains.
ALTER TABLE event_archive ADD COLUMN chain text, ADD COLUMN chain_seq bigint,
    ADD COLUMN chain_offset bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
-- Rows from before the chains, found at start to be chained once (hub/audit_seal.py).
CREATE INDEX event_archive_unchained ON event_archive (topic) WHERE chain IS NULL;
CREATE TABLE archive_chain_head (
    chain text   PRIMARY KEY,
    seq   bigint NOT NULL,
    hash  bytea  NOT NULL
);

-- Signed checkpoints (Ed25519) of the chains' heads, written by the API at intervals and
-- when it stops: rows cut from a chain's end before a checkpoint are found missing.
CREATE TABLE chain_checkpoint (
    id        bigserial   PRIMARY KEY,
    chain     text        NOT NULL,
    last_seq  bigint      NOT NULL,
    last_hash bytea       NOT NULL,
    at        timestamptz NOT NULL,
    key_id    text        NOT NULL,
    signature bytea       NOT NULL
);
CREATE INDEX chain_checkpoint_chain ON chain_checkpoint (chain, last_seq);
