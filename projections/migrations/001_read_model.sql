-- The read model, version 1. Every table here is rebuilt from the log by replaying the
-- agency topics (the log is the truth); nothing is written by anything but the projector
-- except audit_log, which records reads and is never rebuilt.

-- Where each consumer is in each partition: committed in the same transaction as the
-- rows its events produced, so a crash never loses or doubles an effect.
CREATE TABLE stream_position (
    consumer    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- Every accepted event, once per (source, id): the dedupe key of the contract and the
-- history the replay tool stands on.
CREATE TABLE event_archive (
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    type        text        NOT NULL,
    agency      text        NOT NULL,
    time        timestamptz NOT NULL,
    subject     text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    version     integer     NOT NULL,
    data        jsonb       NOT NULL,
    summary     text        NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX event_archive_time ON event_archive (time);

-- Which entities (person, case, place, grid) each event touched: one entity's history is
-- an index lookup.
CREATE TABLE event_entity (
    entity_kind text        NOT NULL,
    entity_id   text        NOT NULL,
    time        timestamptz NOT NULL,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, time, source, event_id)
);

-- Records the intake rejected, beside the copy sent to hub.deadletter.
CREATE TABLE deadletter (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    field       text,
    event_id    text,
    PRIMARY KEY (topic, partition, "offset")
);

-- Scalar facts about an entity, last writer wins by event time (then source, id): the
-- order between partitions can never change the result, and each value keeps its
-- provenance (which event, which agency, when).
CREATE TABLE entity_field (
    entity_kind text        NOT NULL,
    entity_id   text        NOT NULL,
    field       text        NOT NULL,
    value       jsonb       NOT NULL,
    time        timestamptz NOT NULL,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    agency      text        NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, field)
);

-- Set-valued facts (names, phones, roles, refs, places), each with the earliest event that
-- stated it.
CREATE TABLE entity_member (
    entity_kind text        NOT NULL,
    entity_id   text        NOT NULL,
    relation    text        NOT NULL,
    member      text        NOT NULL,
    attrs       jsonb       NOT NULL,
    time        timestamptz NOT NULL,
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    agency      text        NOT NULL,
    PRIMARY KEY (entity_kind, entity_id, relation, member)
);
CREATE INDEX entity_member_reverse ON entity_member (relation, member);

-- Agency records resolved to hub persons and case threads.
CREATE TABLE record_link (
    agency      text NOT NULL,
    kind        text NOT NULL,
    record_id   text NOT NULL,
    entity_kind text NOT NULL,
    entity_id   text NOT NULL,
    PRIMARY KEY (agency, kind, record_id)
);
CREATE INDEX record_link_entity ON record_link (entity_kind, entity_id);

CREATE TABLE person (
    person_id         text PRIMARY KEY,
    national_id       text,
    national_id_valid boolean NOT NULL
);
CREATE UNIQUE INDEX person_national_id ON person (national_id) WHERE national_id_valid;

CREATE TABLE case_thread (
    case_id   text PRIMARY KEY,
    opened_at timestamptz NOT NULL
);

-- Reads, written before each answer leaves (not rebuilt from the log).
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_name   text        NOT NULL,
    agency      text        NOT NULL,
    role        text        NOT NULL,
    client      text,
    method      text        NOT NULL,
    path        text        NOT NULL,
    purpose     text,
    subject_ids text[]      NOT NULL,
    outcome     text        NOT NULL
);
CREATE INDEX audit_log_subjects ON audit_log USING gin (subject_ids);
