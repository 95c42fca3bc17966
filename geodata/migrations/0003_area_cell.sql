-- Every H3 cell (r7-r10) apportioned to the grids it overlaps, by area:
-- share = the part of the cell inside the grid, area_share = the part of the
-- grid the cell covers. A hot hex names the grid with its largest share; a
-- grid's patrol coverage counts its r10 cells. Written by the grid load.
CREATE TABLE shiyu.area_cell (
    res        smallint NOT NULL CHECK (res BETWEEN 7 AND 10),
    cell       bigint NOT NULL,
    code       text NOT NULL,
    share      real NOT NULL,
    area_share real NOT NULL,
    PRIMARY KEY (res, cell, code)
);
CREATE INDEX area_cell_code_idx ON shiyu.area_cell (code, res);
