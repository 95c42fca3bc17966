-- All-time counts per H3 r9 cell (with its r7 and r8 cells), category and
-- district: what views without a time window read. Unlike the weekly cube its
-- size follows the cells, not the weeks, so it stops growing once the city's
-- cells are filled: city views at 10M incidents cost what they cost at 1M.
-- Kept by the incident loader from the same deltas as the weekly cube.
CREATE TABLE shiyu.incident_cell (
    category  text NOT NULL,
    district  text NOT NULL,   -- the second label of the incident's path, '' when it has none
    h3_r7     bigint NOT NULL,
    h3_r8     bigint NOT NULL,
    h3_r9     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (h3_r9, h3_r8, h3_r7, category, district)
);
CREATE INDEX incident_cell_district_idx ON shiyu.incident_cell (district);

INSERT INTO shiyu.incident_cell (category, district, h3_r7, h3_r8, h3_r9, n, n_open)
SELECT category, CASE WHEN nlevel(path) >= 2 THEN subpath(path, 1, 1)::text ELSE '' END, h3_r7, h3_r8, h3_r9,
       count(*), count(*) FILTER (WHERE status NOT IN ('verified', 'closed'))
FROM shiyu.incident
GROUP BY 1, 2, 3, 4, 5;
ANALYZE shiyu.incident_cell;
