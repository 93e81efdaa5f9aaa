-- Schema version 11: outbox retention. Done and cancelled actions older
-- than outbox.keep_done are deleted with their message bodies (see
-- store/outboxprune.go). The partial index lets each small pruning
-- transaction find its oldest finished rows without a scan of the queue.
--
-- outbox_pruned keeps, per account, kind and final state, how many rows
-- (and bytes of payload and body) retention removed, so that counters
-- read from the outbox (replayed actions) never go backwards. Outage
-- counts need no column: a closed outage's counts are stored on its row
-- when it ends, and the rows an open outage counts are never pruned.

CREATE INDEX outbox_finished ON outbox (updated_at) WHERE state IN ('done', 'cancelled');

CREATE TABLE outbox_pruned (
    account TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    kind    TEXT    NOT NULL,
    state   TEXT    NOT NULL CHECK (state IN ('done', 'cancelled')),
    rows    INTEGER NOT NULL DEFAULT 0 CHECK (rows >= 0),
    bytes   INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    PRIMARY KEY (account, kind, state)
) STRICT;
