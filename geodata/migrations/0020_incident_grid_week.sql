-- The day cube (0010) of every category together, one row per grid and Beijing week (Monday first) instead of
-- one per grid-day: what the early warnings of the whole city read for their nine weeks. They sum every grid's
-- incidents over spans that start and end at T's time of day; from the day cube that was 560,000 grid-day rows
-- at 10M incidents (0.49 s), from this 100,000 (layers/warning_bins.py).
--   n            incidents of the week
--   before_day   element d + 1 (d = 0 … 7): incidents reported before day d of the week (element 1 is 0, 8 is n)
--   by_hour_cum  element 24 d + k (d = 0 … 6, k = 1 … 24): incidents of day d reported before its hour k,
--                incident_day's by_hour_cum of the week's seven days one after another (0s for a quiet day)
-- so the incidents before hour x of the week (x = 24 d + k, k = 0 … 23) are before_day[d + 1] plus, unless
-- k = 0, by_hour_cum[x]: any span of whole hours is two such lookups at each end, in every row the same.
-- Both arrays add element by element, so the incident loader keeps the table by the deltas it keeps the day
-- cube by (etl/cubes.py GRID_WEEK); shiyu.incident_grid_week_of('shiyu.incident_day') recounts it from the day cube, and a test
-- holds the two equal. Incidents in no grid are left out, as in the day cube.
CREATE TABLE shiyu.incident_grid_week (
    week         date NOT NULL,
    grid_code    text NOT NULL,
    path         ltree NOT NULL,
    n            integer NOT NULL,
    before_day   integer[] NOT NULL,
    by_hour_cum  integer[] NOT NULL,
    PRIMARY KEY (week, grid_code, path)
);

-- The rows of a relation of grid-days shaped as the day cube (day, grid_code, path, category, n, by_hour_cum), of
-- its rows of every category together (''): the day cube itself for a recount, or the incident loader's delta by
-- grid-day (etl/cubes.py). Grouped by the path as text: ltree has no hash operator class.
CREATE FUNCTION shiyu.incident_grid_week_of(days regclass) RETURNS SETOF shiyu.incident_grid_week
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY EXECUTE format($sql$
    WITH days AS (
        SELECT day - (extract(isodow FROM day)::int - 1) AS week, extract(isodow FROM day)::int - 1 AS dow,
               grid_code, path::text AS path, n, by_hour_cum
        FROM %s WHERE category = ''
    ), dense AS (  -- seven days a week, quiet ones as 0s, so the hours of day d sit at 24 d + 1 … 24 d + 24
        SELECT g.week, g.grid_code, g.path, k.dow, coalesce(d.n, 0) AS n,
               coalesce(d.by_hour_cum, array_fill(0, ARRAY[24])) AS by_hour_cum
        FROM (SELECT DISTINCT week, grid_code, path FROM days) g
        CROSS JOIN generate_series(0, 6) AS k(dow)
        LEFT JOIN days d ON (d.week, d.grid_code, d.path, d.dow) = (g.week, g.grid_code, g.path, k.dow)
    ), weeks AS (
        SELECT week, grid_code, path, sum(n)::int AS n,
               ARRAY[0, sum(n) FILTER (WHERE dow < 1), sum(n) FILTER (WHERE dow < 2), sum(n) FILTER (WHERE dow < 3),
                     sum(n) FILTER (WHERE dow < 4), sum(n) FILTER (WHERE dow < 5), sum(n) FILTER (WHERE dow < 6),
                     sum(n)]::int[] AS before_day,
               array_agg(by_hour_cum ORDER BY dow) AS hours  -- 7 x 24
        FROM dense GROUP BY 1, 2, 3
    )
    SELECT week, grid_code, path::ltree, n, before_day,
           ARRAY(SELECT h FROM unnest(hours) WITH ORDINALITY AS u(h, i) ORDER BY i)
    FROM weeks
    $sql$, days);
END
$$;

INSERT INTO shiyu.incident_grid_week SELECT * FROM shiyu.incident_grid_week_of('shiyu.incident_day') ORDER BY week;
ANALYZE shiyu.incident_grid_week;

GRANT SELECT ON shiyu.incident_grid_week TO shiyu_app;
ALTER TABLE shiyu.incident_grid_week ENABLE ROW LEVEL SECURITY;
-- As the day cube: it keeps the incidents' path, so it reads as the incidents do.
CREATE POLICY in_scope ON shiyu.incident_grid_week FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));

-- Also for the wall: its open count sums every day of the street roll-up's rows of every category together
-- (layers/panels.py OPEN_BY_DAY). Those are a tenth of its rows, spread over all of it since each load appends
-- its days: at 10M incidents the planner scanned all 353,000 (77 ms); from this index it reads the 34,000
-- (5 ms), and from it alone once the table is vacuumed.
CREATE INDEX incident_day_street_all_idx ON shiyu.incident_day_street (path) INCLUDE (n, n_resolved)
    WHERE category = '';
ANALYZE shiyu.incident_day_street;
