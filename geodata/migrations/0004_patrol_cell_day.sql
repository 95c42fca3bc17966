-- Patrol pings per Beijing day and H3 r10 cell: what the coverage layer reads
-- instead of every ping (measured on the demo city: 1.34M pings a week fold
-- into 205k rows). The patrol loader recomputes the days a batch touches from
-- shiyu.patrol_ping, so re-loads and overlapping batches leave it exact.
-- A ping's day cannot change on update: ts is part of its key.
CREATE TABLE shiyu.patrol_cell_day (
    day      date NOT NULL,          -- the Beijing (Asia/Shanghai) day of the pings
    h3_r10   bigint NOT NULL,
    pings    integer NOT NULL,
    last_ts  timestamptz NOT NULL,   -- the latest ping of the day in the cell
    PRIMARY KEY (day, h3_r10)
);
-- Cell first: has any r10 descendant of a cell been visited in a window (one range of h3_r10, see layers/coverage.py).
CREATE INDEX patrol_cell_day_cell_idx ON shiyu.patrol_cell_day (h3_r10, day);

-- Pings loaded before this migration.
INSERT INTO shiyu.patrol_cell_day (day, h3_r10, pings, last_ts)
SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date, h3_r10, count(*), max(ts)
FROM shiyu.patrol_ping
GROUP BY 1, 2;
ANALYZE shiyu.patrol_cell_day;
