-- The intake worker's cube deltas, written by the micro-batch that writes their incidents and added to the cubes by
-- the fold that follows it (etl/intake_worker.py). The micro-batch commits the incidents, its posts' answers and
-- its signed rows here in one transaction; a post is answered then, without waiting for the eight cubes. The fold
-- (one at a time, on its own connection) adds the pending rows of the oldest unfolded batches to every cube by the
-- loader's own delta SQL (etl/cubes.py), deletes them and sets the batches' finished_at, in one transaction: the
-- data's version (0022) moves at that commit, so whatever reads the cubes under a version sees them folded. Killed
-- in between, the rows wait here and the next worker folds them; nothing is added twice, nothing lost.
CREATE TABLE shiyu.cube_delta (
    batch_id    bigint NOT NULL REFERENCES shiyu.load_batch (id) ON DELETE CASCADE,
    sign        smallint NOT NULL,
    category    text, status text, reported_at timestamptz, resolved_at timestamptz,
    h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, grid_code text, path ltree
);
CREATE INDEX cube_delta_batch ON shiyu.cube_delta (batch_id);
-- The app's role neither reads nor writes it (no grant); the data version tells it when a fold committed.
