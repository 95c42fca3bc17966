-- The batches that went through, by when they finished: the wall's "data as of" (max) and its just-arrived reports
-- (the last seconds' batches) read them on every redraw, and the intake adds a batch per micro-batch, so load_batch
-- grows by thousands a day; without this both read every batch there ever was.
CREATE INDEX load_batch_finished ON shiyu.load_batch (finished_at) WHERE status = 'loaded';
