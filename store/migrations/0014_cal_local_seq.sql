-- Schema version 14: the local CalDAV endpoint's own change counter. Each
-- calendar counts the changes its local view went through (local_seq);
-- each object records the count of its last change, and cal_removed the
-- count at which an href left the local view. The endpoint's ETags
-- ("<local_seq>" of the object) and sync-tokens (the calendar's local_seq)
-- come from here, never from the provider, so they stay valid through an
-- outage and a replay (which records the provider's new ETag but leaves
-- the local view as it is).
--
-- A change of the local view is: a new row, a change of data, the row
-- being hidden (local_state 'deleted') or shown again, or the row being
-- removed. A replay recording the provider's ETag is not one.
--
-- The triggers count in the statement that changes the row, whatever
-- code path made it, so no writer can forget. A calendar starts counting
-- above every count used before (and at least at the current time, so a
-- recreated database, or a calendar id reused after a removal, never
-- accepts an old token): local_seq_base is where it started, and a token
-- below it is refused (the client then lists everything again).

ALTER TABLE calendars ADD COLUMN local_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calendars ADD COLUMN local_seq_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cal_objects ADD COLUMN local_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE cal_removed (
    calendar_id INTEGER NOT NULL,
    href        TEXT    NOT NULL,
    local_seq   INTEGER NOT NULL,
    PRIMARY KEY (calendar_id, href)
) STRICT, WITHOUT ROWID;

-- Backfill: every existing calendar starts now; its objects at its start.
UPDATE calendars SET local_seq = unixepoch() + id, local_seq_base = unixepoch() + id;
UPDATE cal_objects SET local_seq = (SELECT local_seq FROM calendars WHERE calendars.id = cal_objects.calendar_id);

CREATE INDEX cal_objects_local_seq ON cal_objects (calendar_id, local_seq);

CREATE TRIGGER calendars_local_seq AFTER INSERT ON calendars
BEGIN
    UPDATE calendars SET local_seq = max(unixepoch(), (SELECT coalesce(max(local_seq), 0) FROM calendars) + 1)
    WHERE id = NEW.id;
    UPDATE calendars SET local_seq_base = local_seq WHERE id = NEW.id;
    DELETE FROM cal_removed WHERE calendar_id = NEW.id;
END;

CREATE TRIGGER calendars_removed AFTER DELETE ON calendars
BEGIN
    DELETE FROM cal_removed WHERE calendar_id = OLD.id;
END;

CREATE TRIGGER cal_objects_local_seq_insert AFTER INSERT ON cal_objects
BEGIN
    UPDATE calendars SET local_seq = local_seq + 1 WHERE id = NEW.calendar_id;
    UPDATE cal_objects SET local_seq = (SELECT local_seq FROM calendars WHERE id = NEW.calendar_id) WHERE id = NEW.id;
    DELETE FROM cal_removed WHERE calendar_id = NEW.calendar_id AND href = NEW.href;
END;

CREATE TRIGGER cal_objects_local_seq_update AFTER UPDATE OF data, local_state ON cal_objects
WHEN OLD.data IS NOT NEW.data OR (OLD.local_state = 'deleted') != (NEW.local_state = 'deleted')
BEGIN
    UPDATE calendars SET local_seq = local_seq + 1 WHERE id = NEW.calendar_id;
    UPDATE cal_objects SET local_seq = (SELECT local_seq FROM calendars WHERE id = NEW.calendar_id) WHERE id = NEW.id;
END;

-- A removed calendar's objects go with it (ON DELETE CASCADE): then the
-- calendar row is gone and nothing is recorded.
CREATE TRIGGER cal_objects_local_seq_delete AFTER DELETE ON cal_objects
BEGIN
    UPDATE calendars SET local_seq = local_seq + 1 WHERE id = OLD.calendar_id;
    INSERT OR REPLACE INTO cal_removed (calendar_id, href, local_seq)
        SELECT id, OLD.href, local_seq FROM calendars WHERE id = OLD.calendar_id;
END;
