-- Placeholder written on branch imapl, whose brief reserved 0013 and 0014
-- for other helpers' migrations and gave it 0015: versions may have no
-- gaps (store/migrate.go), so this empty step keeps the branch's schema
-- numbered. At the merge, delete this file when a real 0013_*.sql exists
-- (two files with one number fail the store tests, loudly).
SELECT 1;
