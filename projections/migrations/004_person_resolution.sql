-- Person resolution. Each person mention is a record node ("agency:kind:id") with its own
-- facts (entity_kind 'record'); a hub person is a connected component of record nodes and
-- "nid:<number>" nodes. Edges come from valid identity numbers (a fact of the event) and
-- from resolution decisions, which are events in the log (hub.internal.*.resolution): who
-- or what decided, the score, the evidence. Components are computed when read, so the
-- order in which edges arrive never matters.

DROP TABLE person;

-- What a record says of its person (latest statement wins), and where it lives (latest
-- move wins): the blocking keys of resolution.
CREATE TABLE mention (
    record       text PRIMARY KEY,
    name         text,
    national_id  text,
    nid_valid    boolean NOT NULL DEFAULT false,
    birth_date   text,
    phone        text,
    stamp        text,      -- time|source|id of the statement, for last-writer-wins
    place_id     text,
    place_stamp  text
);
CREATE INDEX mention_name_birth ON mention (name, birth_date);
CREATE INDEX mention_phone ON mention (phone);
CREATE INDEX mention_birth_place ON mention (birth_date, place_id);
CREATE INDEX mention_name_place ON mention (name, place_id);

-- Both directions are stored, so a component is one indexed walk.
CREATE TABLE person_edge (
    src         text NOT NULL,
    dst         text NOT NULL,
    origin      text NOT NULL,   -- 'national_id' or a decision id
    PRIMARY KEY (src, dst)
);

-- Hub person ids of every node (P-… of "nid:<n>" or of "rec:<record>"), so an id handed
-- out once keeps answering after its component merged into another.
CREATE TABLE person_node (
    person_id   text PRIMARY KEY,
    node        text NOT NULL
);

CREATE TABLE resolution_decision (
    decision_id text        PRIMARY KEY,
    action      text        NOT NULL,   -- link | unlink | candidate | reject
    a           text        NOT NULL,
    b           text        NOT NULL,
    score       real,
    evidence    jsonb       NOT NULL,
    decided_by  text        NOT NULL,
    time        timestamptz NOT NULL
);
CREATE INDEX resolution_decision_pair ON resolution_decision (a, b);
