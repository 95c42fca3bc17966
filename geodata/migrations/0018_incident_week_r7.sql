-- The weekly cube summed over categories at r7: what the city's or a district's emerging hot spots (and hexes,
-- hot spots) at r7 over whole weeks read without a category filter. incident_week holds a row per week,
-- category, district and r8 cell: at 10M incidents 12 weeks of it are 908,000 rows to sum into 51,000 (0.44 s,
-- 4.4x the rows at 1M, where most r8 cells of a week are empty); here they are at most weeks x r7 cells.
-- Kept by triggers on incident_week from the rows its statements insert, update and delete, so whatever keeps
-- incident_week (the incident loader's deltas) keeps this one too; a test recounts it from the incidents.
CREATE TABLE shiyu.incident_week_r7 (
    week      date NOT NULL,
    district  text NOT NULL,
    h3_r7     bigint NOT NULL,
    n         integer NOT NULL,
    n_open    integer NOT NULL,
    PRIMARY KEY (week, district, h3_r7)
);
INSERT INTO shiyu.incident_week_r7 (week, district, h3_r7, n, n_open)
SELECT week, district, h3_r7, sum(n), sum(n_open) FROM shiyu.incident_week GROUP BY 1, 2, 3;
ANALYZE shiyu.incident_week_r7;

-- Adds what a statement's rows added to incident_week and subtracts what they took from it, then drops the keys
-- left empty. A delta is handed over as JSON so the three kinds of statement share one statement here.
CREATE FUNCTION shiyu.apply_week_r7_delta(delta jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO shiyu.incident_week_r7 AS r (week, district, h3_r7, n, n_open)
    SELECT week, district, h3_r7, sum(n), sum(n_open)
    FROM jsonb_to_recordset(delta) AS d (week date, district text, h3_r7 bigint, n integer, n_open integer)
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 OR sum(n_open) <> 0
    ON CONFLICT (week, district, h3_r7) DO UPDATE SET n = r.n + EXCLUDED.n, n_open = r.n_open + EXCLUDED.n_open;
    DELETE FROM shiyu.incident_week_r7 r
    USING (SELECT DISTINCT week, district, h3_r7
           FROM jsonb_to_recordset(delta) AS d (week date, district text, h3_r7 bigint)) d
    WHERE r.n = 0 AND r.n_open = 0 AND (r.week, r.district, r.h3_r7) = (d.week, d.district, d.h3_r7);
$$;
CREATE FUNCTION shiyu.week_rows_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shiyu.apply_week_r7_delta((SELECT coalesce(jsonb_agg(a), '[]') FROM (
        SELECT week, district, h3_r7, sum(n) AS n, sum(n_open) AS n_open FROM added GROUP BY 1, 2, 3) a));
    RETURN NULL;
END
$$;
CREATE FUNCTION shiyu.week_rows_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shiyu.apply_week_r7_delta((SELECT coalesce(jsonb_agg(a), '[]') FROM (
        SELECT week, district, h3_r7, sum(n) AS n, sum(n_open) AS n_open
        FROM (SELECT week, district, h3_r7, n, n_open FROM added
              UNION ALL SELECT week, district, h3_r7, -n, -n_open FROM removed) c GROUP BY 1, 2, 3) a));
    RETURN NULL;
END
$$;
CREATE FUNCTION shiyu.week_rows_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM shiyu.apply_week_r7_delta((SELECT coalesce(jsonb_agg(a), '[]') FROM (
        SELECT week, district, h3_r7, -sum(n) AS n, -sum(n_open) AS n_open FROM removed GROUP BY 1, 2, 3) a));
    RETURN NULL;
END
$$;
CREATE TRIGGER incident_week_r7_added AFTER INSERT ON shiyu.incident_week
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION shiyu.week_rows_added();
CREATE TRIGGER incident_week_r7_changed AFTER UPDATE ON shiyu.incident_week
    REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION shiyu.week_rows_changed();
CREATE TRIGGER incident_week_r7_removed AFTER DELETE ON shiyu.incident_week
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION shiyu.week_rows_removed();

GRANT SELECT ON shiyu.incident_week_r7 TO shiyu_app;
ALTER TABLE shiyu.incident_week_r7 ENABLE ROW LEVEL SECURITY;
-- As incident_week reads: kept per district.
CREATE POLICY in_scope ON shiyu.incident_week_r7 FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR (nlevel((SELECT shiyu.scope_path())) = 2 AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text));
