-- Schema version 16: needs-login is a health state of its own. A service
-- whose OAuth2 sign-in is gone (revoked, expired, never done) waits for
-- `holdover account login`: it is neither degraded (retrying by itself)
-- nor down (no outage is opened, the provider may be fine). Until now it
-- was stored as degraded with last_error starting "needs-login: ".
--
-- SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt; nothing references provider_health, and it has no index or
-- trigger besides its primary key.

CREATE TABLE provider_health_new (
    account              TEXT    NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
    service              TEXT    NOT NULL CHECK (service IN ('imap', 'smtp', 'caldav', 'webdav')),
    state                TEXT    NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'unknown', 'needs-login')),
    since                INTEGER NOT NULL,
    last_error           TEXT,
    last_error_at        INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (account, service)
) STRICT;

INSERT INTO provider_health_new
SELECT account, service,
       CASE WHEN state = 'degraded' AND last_error LIKE 'needs-login: %' THEN 'needs-login' ELSE state END,
       since,
       CASE WHEN state = 'degraded' AND last_error LIKE 'needs-login: %' THEN substr(last_error, 14) ELSE last_error END,
       last_error_at, consecutive_failures, updated_at
FROM provider_health;

DROP TABLE provider_health;
ALTER TABLE provider_health_new RENAME TO provider_health;
