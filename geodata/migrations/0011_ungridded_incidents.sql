-- The incidents that fall in no grid (a coverage gap: loaded without grid_code or path). The day cube
-- (0010) leaves them out, as no area's KPI counts them; the wall's city-wide panels do count them, and read
-- them here by day instead of scanning a month of incidents for the few without a path.
CREATE INDEX incident_ungridded_idx ON shiyu.incident (reported_at) INCLUDE (category, status) WHERE path IS NULL;
