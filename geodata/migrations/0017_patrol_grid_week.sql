-- Patrol coverage of every grid over the 7 Beijing days before each day: what the coverage layer, the wall and
-- the area KPIs read for the default window (the last 7 days) instead of taking the window's visited r10 cells
-- from patrol_cell_day and looking each up in area_cell (0.25-0.3 s for the whole demo city, each time).
-- A row per (end_day, grid) with at least one visited cell in [end_day - 7, end_day):
--   visited_cells   the grid's r10 cells (area_cell) with a ping in those days
--   visited_share   the sum of their area_share (float8, as layers/coverage.py sums them)
--   last_visit      the latest ping in them
-- Kept by triggers, so no loader changes: the patrol loader's recount of a day in patrol_cell_day recomputes the
-- 7 end days it falls in; the grid load's rewrite of a grid's cells in area_cell recomputes that grid's rows.
-- shiyu.refresh_patrol_grid_week(days, codes) does the same for any days and grids (NULL: all of them); after
-- deleting patrol days by hand, call it for those days.
CREATE TABLE shiyu.patrol_grid_week (
    end_day        date NOT NULL,
    code           text NOT NULL,
    visited_cells  integer NOT NULL,
    visited_share  float8 NOT NULL,
    last_visit     timestamptz NOT NULL,
    PRIMARY KEY (end_day, code)
);
CREATE INDEX patrol_grid_week_code_idx ON shiyu.patrol_grid_week (code);

CREATE FUNCTION shiyu.refresh_patrol_grid_week(days date[], codes text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM shiyu.patrol_grid_week w
    WHERE (days IS NULL OR w.end_day IN (SELECT d + k FROM unnest(days) d, generate_series(1, 7) k))
      AND (codes IS NULL OR w.code = ANY(codes));
    IF codes IS NULL THEN  -- many grids: the window's visited cells first, each looked up in area_cell
        INSERT INTO shiyu.patrol_grid_week (end_day, code, visited_cells, visited_share, last_visit)
        WITH ends AS (
            SELECT DISTINCT d + k AS end_day
            FROM unnest(coalesce(days, ARRAY(SELECT DISTINCT day FROM shiyu.patrol_cell_day))) d, generate_series(1, 7) k
        ), visited AS (
            SELECT e.end_day, p.h3_r10 AS cell, max(p.last_ts) AS last_ts
            FROM ends e JOIN shiyu.patrol_cell_day p ON p.day >= e.end_day - 7 AND p.day < e.end_day
            GROUP BY 1, 2
        )
        SELECT v.end_day, c.code, count(*), sum(c.area_share::float8), max(v.last_ts)
        FROM visited v JOIN shiyu.area_cell c ON c.res = 10 AND c.cell = v.cell
        GROUP BY 1, 2;
    ELSE  -- a few grids: their cells first, each probed in patrol_cell_day_cell_idx
        INSERT INTO shiyu.patrol_grid_week (end_day, code, visited_cells, visited_share, last_visit)
        WITH ends AS (
            SELECT DISTINCT d + k AS end_day
            FROM unnest(coalesce(days, ARRAY(SELECT DISTINCT day FROM shiyu.patrol_cell_day))) d, generate_series(1, 7) k
        ), visited AS (
            SELECT e.end_day, c.code, c.area_share, max(p.last_ts) AS last_ts
            FROM shiyu.area_cell c JOIN shiyu.patrol_cell_day p ON p.h3_r10 = c.cell
            JOIN ends e ON p.day >= e.end_day - 7 AND p.day < e.end_day
            WHERE c.res = 10 AND c.code = ANY(codes)
            GROUP BY e.end_day, c.code, c.cell, c.area_share
        )
        SELECT end_day, code, count(*), sum(area_share::float8), max(last_ts) FROM visited GROUP BY 1, 2;
    END IF;
END
$$;

CREATE FUNCTION shiyu.patrol_days_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shiyu.refresh_patrol_grid_week(ARRAY(SELECT DISTINCT day FROM changed), NULL);
    RETURN NULL;
END
$$;
CREATE TRIGGER patrol_grid_week_days AFTER INSERT ON shiyu.patrol_cell_day
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shiyu.patrol_days_changed();

CREATE FUNCTION shiyu.grid_cells_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    codes text[] := ARRAY(SELECT DISTINCT code FROM changed WHERE res = 10);
BEGIN
    IF cardinality(codes) > 0 THEN
        PERFORM shiyu.refresh_patrol_grid_week(NULL, codes);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER patrol_grid_week_cells_added AFTER INSERT ON shiyu.area_cell
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shiyu.grid_cells_changed();
CREATE TRIGGER patrol_grid_week_cells_removed AFTER DELETE ON shiyu.area_cell
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION shiyu.grid_cells_changed();

SELECT shiyu.refresh_patrol_grid_week(NULL, NULL);
ANALYZE shiyu.patrol_grid_week;

GRANT SELECT ON shiyu.patrol_grid_week TO shiyu_app;
ALTER TABLE shiyu.patrol_grid_week ENABLE ROW LEVEL SECURITY;
-- The grids in scope, as area_cell_count reads (the subquery reads shiyu.area under its own policy as well).
CREATE POLICY in_scope ON shiyu.patrol_grid_week FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR code IN (SELECT a.code FROM shiyu.area a WHERE a.path <@ (SELECT shiyu.scope_path())));
