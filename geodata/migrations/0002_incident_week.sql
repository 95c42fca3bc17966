-- Weekly counts per coarse H3 cell, category and district: what city-wide
-- layers (hexes at r7/r8, hotspots, emerging hotspots, trends) read instead of
-- scanning every incident. Finer resolutions are drawn only zoomed in, where a
-- bbox query on shiyu.incident is small. Weeks start on Monday, Beijing time.
-- The loader keeps it by deltas: it subtracts the old versions of a batch's
-- rows and adds the new ones, so its cost follows the batch, not the table.
-- Overdue is not kept here: it changes with the clock, not with loads.
CREATE TABLE shiyu.incident_week (
    week      date NOT NULL,
    category  text NOT NULL,
    district  text NOT NULL,   -- the second label of the incident's path, '' when it has none
    h3_r7     bigint NOT NULL,
    h3_r8     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (week, category, district, h3_r7, h3_r8)
);
CREATE INDEX incident_week_r8_idx ON shiyu.incident_week (h3_r8, week);
