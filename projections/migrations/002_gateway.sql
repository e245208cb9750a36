-- Events accepted by the HTTP gateway, by (source, id): the same event posted twice is sent
-- to the log once. A row commits only after the broker acknowledged the event (acks=all).
-- Not rebuilt from the log: it belongs to the gateway, not to the read model.
CREATE TABLE gateway_seen (
    source    text        NOT NULL,
    event_id  text        NOT NULL,
    topic     text        NOT NULL,
    PRIMARY KEY (source, event_id)
);
