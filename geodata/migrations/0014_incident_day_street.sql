-- The day cube (0010) rolled up to the streets: per Beijing day, street and category ('' for all), what the
-- wall's panels and the KPIs of a city's districts or a district's streets read for whole days. At 10M
-- incidents a month of the day cube is 300,000 grid-day rows of 560 bytes for the city (a million with the
-- categories: the wall's category breakdown read the incidents instead, 0.55 s); here it is 5,700 (57,000).
--   n, n_resolved   as in incident_day, summed over the street's grids
--   resolve_hours   every resolved incident's hours, ascending (pooled from incident_day's, the same values)
--   hours_upto      element k: how many of them are at most shiyu.resolve_hour_bounds()[k] (the last:
--                   all of them; layers/kpis.py keeps the same bounds, HOUR_BOUNDS)
-- An exact median of many streets and days needs only the values around it: the bounds tell which bucket holds
-- it, and the ascending arrays give that bucket's values as one slice per row (layers/kpis.py).
-- Kept by the incident loader's deltas, as the day cube is (etl/cubes.py STREET: the rows a batch touches written
-- anew, hours taken out value by value and added); shiyu.refresh_incident_day_street(days, streets) recounts any
-- keys from incident_day (or every key, both NULL), and a test holds the two equal.
-- A street's grids are found through shiyu.area: a grid moved to another street by a later area load keeps
-- its incidents' old paths until they are loaded again, and is counted here under its new street.
CREATE FUNCTION shiyu.resolve_hour_bounds() RETURNS float8[] LANGUAGE sql IMMUTABLE AS $$
    SELECT '{0.5,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,26,28,30,33,36,40,44,48,54,60,
             72,84,96,120,144,168,240,336,504,720,Infinity}'::float8[]
$$;

-- How many of these ascending hours are at most each bound.
CREATE FUNCTION shiyu.hours_upto(hours float8[]) RETURNS integer[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(SELECT width_bucket(b, hours) FROM unnest(shiyu.resolve_hour_bounds()) WITH ORDINALITY AS u(b, k)
                 ORDER BY k)
$$;

CREATE TABLE shiyu.incident_day_street (
    day            date NOT NULL,
    path           ltree NOT NULL,   -- the street's: the first three labels of its grids' paths
    category       text NOT NULL,    -- '' for every category together
    n              integer NOT NULL,
    n_resolved     integer NOT NULL,
    hours_upto     integer[] NOT NULL,
    resolve_hours  float8[] NOT NULL,
    PRIMARY KEY (category, day, path)
);

CREATE FUNCTION shiyu.street_of(path ltree) RETURNS ltree LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT subpath(path, 0, least(nlevel(path), 3))
$$;

-- The rows of these (day, street) keys, from incident_day; both NULL: every key.
CREATE FUNCTION shiyu.incident_day_street_of(days date[], streets ltree[]) RETURNS SETOF shiyu.incident_day_street
LANGUAGE sql STABLE AS $$
    WITH keys AS (
        SELECT DISTINCT day, street FROM unnest(days, streets) AS k(day, street)
    ), grid_days AS (  -- each key's grids, so incident_day is read through its (grid_code, day) index
        SELECT a.code, k.day, k.street FROM keys k JOIN shiyu.area a ON a.tier = 'grid' AND a.path <@ k.street
    ), picked AS (
        SELECT c.day, shiyu.street_of(c.path) AS street, c.category, c.n, c.n_resolved, c.resolve_hours
        FROM grid_days g JOIN shiyu.incident_day c ON c.grid_code = g.code AND c.day = g.day
        WHERE shiyu.street_of(c.path) = g.street
        UNION ALL
        SELECT c.day, shiyu.street_of(c.path), c.category, c.n, c.n_resolved, c.resolve_hours
        FROM shiyu.incident_day c WHERE days IS NULL AND streets IS NULL
    ), counted AS (
        SELECT day, street, category, sum(n)::int AS n, sum(n_resolved)::int AS n_resolved
        FROM picked GROUP BY 1, 2, 3
    ), pooled AS (
        SELECT day, street, category, array_agg(h ORDER BY h) AS hours
        FROM picked CROSS JOIN LATERAL unnest(resolve_hours) h GROUP BY 1, 2, 3
    )
    SELECT c.day, c.street, c.category, c.n, c.n_resolved, shiyu.hours_upto(coalesce(p.hours, '{}')),
           coalesce(p.hours, '{}')
    FROM counted c LEFT JOIN pooled p USING (day, street, category)
$$;

CREATE FUNCTION shiyu.refresh_incident_day_street(days date[], streets ltree[]) RETURNS void
LANGUAGE sql VOLATILE AS $$
    DELETE FROM shiyu.incident_day_street s
    WHERE (days IS NULL AND streets IS NULL)
       OR (s.day, s.path) IN (SELECT * FROM unnest(days, streets));
    INSERT INTO shiyu.incident_day_street
    SELECT * FROM shiyu.incident_day_street_of(days, streets) ORDER BY category, day;
$$;

SELECT shiyu.refresh_incident_day_street(NULL, NULL);
ANALYZE shiyu.incident_day_street;

GRANT SELECT ON shiyu.incident_day_street TO shiyu_app;
ALTER TABLE shiyu.incident_day_street ENABLE ROW LEVEL SECURITY;
-- As the incidents read, a street's rows for its street's scope and above: a scope below a street (a
-- community, a grid) sees none of them and reads the day cube instead (layers/kpis.py).
CREATE POLICY in_scope ON shiyu.incident_day_street FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
