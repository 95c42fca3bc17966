-- The data's version: one number that moves when, and only when, a batch commits (geodata/version.py). Whatever is
-- computed from the data may be kept under it (the OGC API's pages, layers/ogc/pages.py) and is stale once it moves.
--
-- A counter row rather than max(load_batch.id): ids are drawn when a batch starts, so two loads running at once can
-- commit out of id order and the later commit, holding the smaller id, would not move a max. Nor max(finished_at):
-- it is taken before the commit too. The counter is bumped by the committing transaction itself, as its last
-- write (the loaders set finished_at last), so the new number becomes visible in the same instant as the data;
-- two batches finishing at once queue on its row lock for that instant and each adds one, in commit order.
-- Rolled-back batches (refused, dry runs, killed) roll their bump back too. Emptying load_batch (TRUNCATE or DELETE,
-- as the tests' fixtures do) moves it as well. Reading it is one row of one page: microseconds.
CREATE TABLE shiyu.data_version (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version   bigint NOT NULL
);
INSERT INTO shiyu.data_version (version) SELECT count(*) FROM shiyu.load_batch;

-- Security definer, so that whoever may finish a batch (the owner's loaders today, an intake worker as another role
-- tomorrow) moves the version without being granted the table.
CREATE FUNCTION shiyu.bump_data_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, shiyu AS $$
BEGIN
    UPDATE shiyu.data_version SET version = version + 1;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shiyu.bump_data_version() FROM PUBLIC;

-- A batch is committed data once it is 'loaded' with its finished_at set: the loaders insert it unfinished and
-- set finished_at as the batch's last statement; a batch written whole in one INSERT counts as well.
CREATE TRIGGER load_batch_finished
    AFTER INSERT OR UPDATE OF status, finished_at ON shiyu.load_batch
    FOR EACH ROW WHEN (NEW.status = 'loaded' AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION shiyu.bump_data_version();
CREATE TRIGGER load_batch_removed
    AFTER DELETE OR TRUNCATE ON shiyu.load_batch
    FOR EACH STATEMENT EXECUTE FUNCTION shiyu.bump_data_version();

GRANT SELECT ON shiyu.data_version TO shiyu_app;
