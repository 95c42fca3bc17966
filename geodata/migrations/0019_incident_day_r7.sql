-- Daily counts per district and r7 cell, over all categories: what the hexes and hot spots of a window on Beijing
-- day boundaries that is not on week boundaries read at r7 for the city or a district ("the last 7 days"), which
-- the weekly cubes cannot answer. At 10M incidents the last 7 days of the bench city are 424,000 incidents in
-- 4,356 r7 cells: read from shiyu.incident they took 150 ms of a 262 ms map answer (56 ms at 200,000); here they
-- are at most 7 x 4,356 rows. The incident loader keeps it by the deltas it keeps the other cubes by
-- (etl/cubes.py DAY_R7); a test recounts it from the incidents.
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
ANALYZE shiyu.incident_day_r7;

GRANT SELECT ON shiyu.incident_day_r7 TO shiyu_app;
ALTER TABLE shiyu.incident_day_r7 ENABLE ROW LEVEL SECURITY;
-- As incident_week_r7 reads: kept per district.
CREATE POLICY in_scope ON shiyu.incident_day_r7 FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR (nlevel((SELECT shiyu.scope_path())) = 2 AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text));
