-- Two cubes over all categories per district and r7 cell, for the city's or a district's r7 views without a
-- category filter (layers/cube.py). The incident loader keeps both by the deltas it keeps the other cubes by
-- (etl/cubes.py DAY_R7, CELL_R7); tests recount them from the incidents.
--
-- incident_day_r7: per Beijing day, for a window on day boundaries that is not on week boundaries ("the last
-- 7 days"), which the weekly cubes cannot answer. At 10M incidents the last 7 days of the bench city are
-- 424,000 incidents in 4,356 r7 cells: read from shiyu.incident they took 150 ms of a 262 ms map answer (56 ms
-- at 200,000); here they are at most 7 x 4,356 rows.
--
-- incident_cell_r7: all time, for views without a window (the explore page's first map, the wall's hot spots).
-- shiyu.incident_cell answers them too, but at 10M incidents it is 1.4M rows (per category, grid and r9 cell) to
-- sum into 4,356 (286 ms for the wall's hot spots); this holds at most the city's r7 cells per district and, like
-- incident_cell, stops growing once they are filled.
CREATE TABLE shiyu.incident_day_r7 (
    day       date NOT NULL,   -- Beijing day of reported_at
    district  text NOT NULL,   -- the second label of the incident's path, '' when it has none
    h3_r7     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (day, district, h3_r7)
);
INSERT INTO shiyu.incident_day_r7 (day, district, h3_r7, n, n_open)
SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date, CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END,
       h3_r7, count(*), count(*) FILTER (WHERE status NOT IN ('verified', 'closed'))
FROM shiyu.incident
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

CREATE TABLE shiyu.incident_cell_r7 (
    district  text NOT NULL,   -- the second label of the incident's path, '' when it has none
    h3_r7     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (district, h3_r7)
);
INSERT INTO shiyu.incident_cell_r7 (district, h3_r7, n, n_open)
SELECT district, h3_r7, sum(n), sum(n_open) FROM shiyu.incident_cell GROUP BY 1, 2 ORDER BY 1, 2;

-- Both as incident_week_r7 reads: kept per district.
DO $$
DECLARE
    cube text;
BEGIN
    FOREACH cube IN ARRAY ARRAY['incident_day_r7', 'incident_cell_r7'] LOOP
        EXECUTE format('ANALYZE shiyu.%I', cube);
        EXECUTE format('GRANT SELECT ON shiyu.%I TO shiyu_app', cube);
        EXECUTE format('ALTER TABLE shiyu.%I ENABLE ROW LEVEL SECURITY', cube);
        EXECUTE format($policy$
            CREATE POLICY in_scope ON shiyu.%I FOR SELECT TO shiyu_app
                USING ((SELECT shiyu.scope_everything())
                       OR (nlevel((SELECT shiyu.scope_path())) = 2
                           AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text))$policy$, cube);
    END LOOP;
END
$$;
