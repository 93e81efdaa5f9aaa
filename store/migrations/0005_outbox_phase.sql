-- Schema version 5: the step a multi-step action has reached. A send
-- records "committing" durably just before the final dot of DATA: after a
-- crash, a send in that phase may have been accepted by the server, and
-- is never sent again without the user's say (unless it is found in Sent).

ALTER TABLE outbox ADD COLUMN phase TEXT NOT NULL DEFAULT '';
