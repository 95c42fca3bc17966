-- The areas' version: the data's version (0022) at the last committed batch of areas, or at the last emptying of
-- load_batch. Posted points are checked against the areas' extent (shiyu.area_extent, 0023), which reads every
-- area's geometry; the intake keeps it while this number stands, so a load of areas takes effect at the next post
-- rather than after a timeout, and a post does not pay for the extent. Kept by the same trigger as the data's
-- version, so it never goes back (a batch id would, after a TRUNCATE ... RESTART IDENTITY).
ALTER TABLE shiyu.data_version ADD COLUMN areas bigint NOT NULL DEFAULT 0;
UPDATE shiyu.data_version SET areas = version;

CREATE OR REPLACE FUNCTION shiyu.bump_data_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, shiyu AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' OR NEW.kind = 'areas' THEN
        UPDATE shiyu.data_version SET version = version + 1, areas = version + 1;
    ELSE
        UPDATE shiyu.data_version SET version = version + 1;
    END IF;
    RETURN NULL;
END $$;
