-- Version 2: each event's hash (see souk_store::chain), chaining it to the
-- previous event of its stream, written with the event. Events already in
-- the log are hashed by the migration's code in the same transaction
-- (recorded in event_log_chain_upgrade), then the column is made NOT NULL,
-- so a node of an older build can no longer append events without one.
ALTER TABLE event_log ADD COLUMN hash bytea CHECK (octet_length(hash) = 32);

-- At most one row, written when a log that already held events was
-- upgraded: events up to hashed_through were hashed at hashed_at, over the
-- log as it was then, not when they were appended.
CREATE TABLE event_log_chain_upgrade (
    hashed_through bigint      NOT NULL CHECK (hashed_through >= 1),
    hashed_at      timestamptz NOT NULL
);
