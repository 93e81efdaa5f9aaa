-- Schema version 10: the claim walks the open actions in creation order.
-- Without it the claim query filtered every pending row of the account
-- (and ran its waits-for tests on each) before sorting by id, so a queue
-- of 5,000 uploads cost seconds per claim at its start and O(n²) in all;
-- with it the walk stops at the first runnable row.
CREATE INDEX outbox_open ON outbox (account, id) WHERE state IN ('pending', 'failed');
