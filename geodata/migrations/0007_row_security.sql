-- Row-level security: the dashboard and the APIs connect as shiyu_app, which
-- owns nothing, and sees only the rows of the scope its transaction set with
--     SELECT set_config('shiyu.scope', <scope>, true)
-- (geodata/db.py: db.scoped). The setting holds an area path such as
-- '330100.330106', or '*' for the whole database. Unset or empty (what a
-- custom setting reverts to after a transaction that set it) shows nothing.
-- The owner (loads, migrations, the CLI) owns the tables and is exempt: no
-- FORCE ROW LEVEL SECURITY. docs/security.md says why each table reads as it does.

-- Roles belong to the cluster, not the database: a second database on the same
-- cluster finds the role there. One with more power than this is refused, since
-- every policy below would mean nothing to it.
DO $$
DECLARE
    existing pg_roles%ROWTYPE;
BEGIN
    SELECT * INTO existing FROM pg_roles WHERE rolname = 'shiyu_app';
    IF NOT FOUND THEN
        CREATE ROLE shiyu_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
    ELSIF existing.rolsuper OR existing.rolbypassrls THEN
        RAISE EXCEPTION 'role shiyu_app exists with SUPERUSER or BYPASSRLS: row-level security would not apply to it';
    END IF;
END
$$;

-- The scope of the current transaction: NULL for none (and for the whole database, see scope_everything).
-- A value that is not an area path is an error, not an empty scope.
CREATE FUNCTION shiyu.scope_path() RETURNS ltree
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(current_setting('shiyu.scope', true), '') IN ('', '*') THEN NULL
                ELSE current_setting('shiyu.scope', true)::ltree END
$$;

CREATE FUNCTION shiyu.scope_everything() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('shiyu.scope', true) = '*', false)
$$;

GRANT USAGE ON SCHEMA shiyu TO shiyu_app;
GRANT SELECT ON shiyu.area, shiyu.incident, shiyu.facility, shiyu.patrol_ping,
                shiyu.incident_week, shiyu.incident_cell, shiyu.area_cell, shiyu.area_cell_count,
                shiyu.patrol_cell_day, shiyu.load_batch TO shiyu_app;
-- Exports are audited from the web: the app writes rows but reads back only the id it is given.
GRANT INSERT ON shiyu.audit_log TO shiyu_app;
GRANT SELECT (id) ON shiyu.audit_log TO shiyu_app;

ALTER TABLE shiyu.area ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.incident ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.facility ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.patrol_ping ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.incident_week ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.incident_cell ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.area_cell ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.area_cell_count ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.patrol_cell_day ENABLE ROW LEVEL SECURITY;

-- (SELECT f()) makes each an init plan: evaluated once per query, not once per row.
-- Rows without a path (incidents in no grid) belong to the whole database only.
CREATE POLICY in_scope ON shiyu.incident FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
CREATE POLICY in_scope ON shiyu.facility FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
CREATE POLICY in_scope ON shiyu.patrol_ping FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
-- Areas: the scope's subtree and the chain above it (the breadcrumbs up to the city), never a sibling.
CREATE POLICY in_scope ON shiyu.area FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path())
           OR path @> (SELECT shiyu.scope_path()));

-- The incident cubes are kept per district (the second label of a path): a district's scope reads its own rows;
-- a city's or a street's cannot be told apart in them and reads none (layers/cube.py sends those to the incidents).
CREATE POLICY in_scope ON shiyu.incident_week FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR (nlevel((SELECT shiyu.scope_path())) = 2 AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text));
CREATE POLICY in_scope ON shiyu.incident_cell FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR (nlevel((SELECT shiyu.scope_path())) = 2 AND district = subpath((SELECT shiyu.scope_path()), 1, 1)::text));

-- The cells of the grids in scope (the subquery reads shiyu.area under its own policy as well).
CREATE POLICY in_scope ON shiyu.area_cell FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR code IN (SELECT a.code FROM shiyu.area a WHERE a.path <@ (SELECT shiyu.scope_path())));
CREATE POLICY in_scope ON shiyu.area_cell_count FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR code IN (SELECT a.code FROM shiyu.area a WHERE a.path <@ (SELECT shiyu.scope_path())));
-- Patrol days per r10 cell: the cells of the scope's grids (a cell on the scope's border shows its whole count).
CREATE POLICY in_scope ON shiyu.patrol_cell_day FOR SELECT TO shiyu_app
    USING ((SELECT shiyu.scope_everything())
           OR h3_r10 IN (SELECT c.cell FROM shiyu.area_cell c WHERE c.res = 10));
