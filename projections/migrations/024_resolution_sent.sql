-- How far each consumer has written its own decisions into the resolution topic (the next
-- offset after the last one it sent, per partition), moved in the transaction that applied
-- them. A consumer has read back everything it decided once its stored positions reach these:
-- what "caught up" means for a check of the live model against a rebuild up to its positions.
CREATE TABLE resolution_sent (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
