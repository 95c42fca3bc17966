-- All-time counts per district and r7 cell over all categories: what the hexes and hot spots of the city or a
-- district at r7 without a window or categories read — the explore page's first map and the wall's hot spots.
-- shiyu.incident_cell answers them too, but at 10M incidents it is 1.4M rows (per category, grid and r9 cell) to
-- sum into 4,356 (286 ms for the wall's hot spots); this holds at most the city's r7 cells per district and, like
-- incident_cell, stops growing once they are filled. The incident loader keeps it by the deltas it keeps the other
-- cubes by (etl/cubes.py CELL_R7); a test recounts it from the incidents.
CREATE TABLE shiyu.incident_cell_r7 (
    district  text NOT NULL,   -- the second label of the incident's path, '' when it has none
    h3_r7     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (district, h3_r7)
);
INSERT INTO shiyu.incident_cell_r7 (district, h3_r7, n, n_open)
SELECT district, h3_r7, sum(n), sum(n_open) FROM shiyu.incident_cell GROUP BY 1, 2 ORDER BY 1, 2;
ANALYZE shiyu.incident_cell_r7;

GRANT SELECT ON shiyu.incident_cell_r7 TO shiyu_app;
ALTER TABLE shiyu.incident_cell_r7 ENABLE ROW LEVEL SECURITY;
-- As incident_week_r7 reads: kept per district.
CREATE POLICY in_scope ON shiyu.incident_cell_r7 FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR (nlevel((SELECT shiyu.scope_path())) = 2 AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text));
