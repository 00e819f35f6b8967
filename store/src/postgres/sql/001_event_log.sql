-- Version 1 of the shared event log.
--
-- event_log_head holds one row: the position of the last committed event.
-- Every transaction that appends locks this row first and moves it at the
-- end, so appends from all nodes commit one after another, in position
-- order, and positions have no holes (see the module docs of
-- souk_store::postgres).
CREATE TABLE event_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO event_log_head (singleton, position) VALUES (true, 0);

-- The events, never updated nor deleted. data is the JSON text exactly as
-- appended (text, not jsonb, which would normalize it); recorded_at has
-- millisecond values only, so it reads back exactly.
CREATE TABLE event_log (
    position    bigint      PRIMARY KEY CHECK (position >= 1),
    stream      text        NOT NULL CHECK (stream <> ''),
    revision    bigint      NOT NULL CHECK (revision >= 0),
    event_type  text        NOT NULL CHECK (event_type <> ''),
    version     bigint      NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
    data        text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    -- Stream reads, the current revision of a stream, and the backstop of
    -- optimistic concurrency: a revision is written once.
    CONSTRAINT event_log_stream_revision UNIQUE (stream, revision)
);
