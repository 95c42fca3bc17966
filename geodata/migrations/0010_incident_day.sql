-- Per Beijing day, grid and category: what area KPIs and early warnings read for whole days instead of
-- every incident of their window (30 days, nine weeks). One row per grid-day and category that had incidents,
-- and one more per grid-day with category '' for all of them together: at 10M incidents a grid-day holds about
-- 6 incidents in 3 categories, so views without a category filter read a third of the rows.
--   n, n_resolved    incidents, and those verified or closed
--   by_hour_cum      how many were reported before the end of each Beijing hour (element k: hours 0 to
--                    k - 1, so element 24 is n), so a window whose ends fall inside a day (the warnings' spans
--                    end at T) reads the incidents of one hour at each end, not of a day
--   resolve_hours    the hours from report to resolution of those with a resolved_at, computed as
--                    layers/kpis.py computes them: a median of them pooled over rows is the incidents' median,
--                    exactly (tests compare it with the raw one)
-- Incidents in no grid have no path and are left out: no KPI or grid warning counts them.
-- incident_day_of below is the one definition of a row. The incident loader keeps the cube by deltas in the
-- batch's transaction (etl/cubes.py): the old versions of the rows it changes taken out (their hours value by
-- value), the new ones added, computed as incident_day_of computes them; tests compare it with a recount.
CREATE TABLE shiyu.incident_day (
    day            date NOT NULL,
    grid_code      text NOT NULL,
    path           ltree NOT NULL,
    category       text NOT NULL,   -- '' for every category together
    n              integer NOT NULL,
    n_resolved     integer NOT NULL,
    by_hour_cum    integer[] NOT NULL,
    resolve_hours  float8[] NOT NULL,
    PRIMARY KEY (category, day, grid_code, path)
);
-- Reads take one category (mostly '') over a span of days, and find it in one run of the table when it was
-- written in that order (the backfill and each load write it so): at 10M incidents the 30 days without a
-- category filter take 60-90 ms in that order, 500 ms with the categories interleaved. Reads narrowed to a street's or a
-- community's grids, and the loader's deletes, go by grid.
CREATE INDEX incident_day_grid_idx ON shiyu.incident_day (grid_code, day, category);

-- The rows of the incidents reported in [since, until), whole Beijing days only when the bounds are midnights.
CREATE FUNCTION shiyu.incident_day_of(since timestamptz, until timestamptz) RETURNS SETOF shiyu.incident_day
LANGUAGE sql STABLE AS $$
    SELECT day, grid_code, path, coalesce(category, ''), count(*)::int,
           count(*) FILTER (WHERE status IN ('verified', 'closed'))::int,
           ARRAY[count(*) FILTER (WHERE hour < 1), count(*) FILTER (WHERE hour < 2), count(*) FILTER (WHERE hour < 3),
                 count(*) FILTER (WHERE hour < 4), count(*) FILTER (WHERE hour < 5), count(*) FILTER (WHERE hour < 6),
                 count(*) FILTER (WHERE hour < 7), count(*) FILTER (WHERE hour < 8), count(*) FILTER (WHERE hour < 9),
                 count(*) FILTER (WHERE hour < 10), count(*) FILTER (WHERE hour < 11), count(*) FILTER (WHERE hour < 12),
                 count(*) FILTER (WHERE hour < 13), count(*) FILTER (WHERE hour < 14), count(*) FILTER (WHERE hour < 15),
                 count(*) FILTER (WHERE hour < 16), count(*) FILTER (WHERE hour < 17), count(*) FILTER (WHERE hour < 18),
                 count(*) FILTER (WHERE hour < 19), count(*) FILTER (WHERE hour < 20), count(*) FILTER (WHERE hour < 21),
                 count(*) FILTER (WHERE hour < 22), count(*) FILTER (WHERE hour < 23), count(*) FILTER (WHERE hour < 24)]::int[],
           coalesce(array_agg(hours) FILTER (WHERE hours IS NOT NULL), '{}')
    FROM (SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
                 extract(hour FROM reported_at AT TIME ZONE 'Asia/Shanghai')::int AS hour,
                 (extract(epoch FROM resolved_at - reported_at) / 3600)::float8 AS hours,
                 grid_code, path, category, status
          FROM shiyu.incident
          WHERE reported_at >= since AND reported_at < until AND grid_code IS NOT NULL AND path IS NOT NULL) i
    GROUP BY GROUPING SETS ((day, grid_code, path, category), (day, grid_code, path))
$$;

INSERT INTO shiyu.incident_day SELECT * FROM shiyu.incident_day_of('-infinity', 'infinity') ORDER BY category, day;
ANALYZE shiyu.incident_day;

GRANT SELECT ON shiyu.incident_day TO shiyu_app;
ALTER TABLE shiyu.incident_day ENABLE ROW LEVEL SECURITY;
-- Unlike the district cubes it keeps the incidents' path, so it reads as the incidents do.
CREATE POLICY in_scope ON shiyu.incident_day FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
