-- Schema version 13: reserved for another branch (issue 15 work in
-- parallel); this placeholder only keeps the numbering without gaps on
-- the caldavd branch. Drop it when that branch's 0013 is merged.
SELECT 1;
