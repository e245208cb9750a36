-- Dead letters sent again by `civic-hub deadletter retry` after a schema or code fix: the
-- original record (bytes and key) goes back to its topic, so it is in the log twice and the
-- second copy is the one the read model takes. Operational state, not rebuilt from the log.
CREATE TABLE deadletter_retry (
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    "offset"      bigint      NOT NULL,
    retried_at    timestamptz NOT NULL DEFAULT now(),
    new_partition integer     NOT NULL,
    new_offset    bigint      NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
