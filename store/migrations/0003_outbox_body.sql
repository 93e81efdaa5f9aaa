-- Schema version 3: an outbox action can carry a stored message body
-- (mail.send, mail.append): the body lives in mail_bodies, in chunks, and
-- is kept while any action refers to it.

ALTER TABLE outbox ADD COLUMN body_id INTEGER REFERENCES mail_bodies(id);
CREATE INDEX outbox_body ON outbox (body_id) WHERE body_id IS NOT NULL;
