-- When a batch last touched each thread (clock_timestamp(), the database's clock):
-- the wall-clock sweep leaves a thread alone until it has been quiet for a few seconds, so
-- a matter's events published in quick batches (a day of history at once, in any order)
-- are read as one before any of its notices is raised. The watermark sweep ignores it.
ALTER TABLE thread_due ADD COLUMN touched_at timestamptz;
