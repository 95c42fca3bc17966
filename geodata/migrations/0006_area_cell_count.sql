-- How many H3 cells of each resolution a grid was apportioned: what a grid's
-- patrol coverage is counted against, kept beside shiyu.area_cell by the grid
-- load so a city-wide view need not count 1.65M r10 rows each time.
CREATE TABLE shiyu.area_cell_count (
    code   text NOT NULL,
    res    smallint NOT NULL CHECK (res BETWEEN 7 AND 10),
    cells  integer NOT NULL,
    PRIMARY KEY (code, res)
);

INSERT INTO shiyu.area_cell_count (code, res, cells)
SELECT code, res, count(*) FROM shiyu.area_cell GROUP BY 1, 2;
