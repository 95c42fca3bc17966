-- The schema of DESIGN.md. Geometries are WGS-84 (EPSG:4326); every row that
-- belongs to a place carries the ltree path of the area it belongs to, so
-- scope checks are one `path <@ scope` test.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS ltree;
CREATE SCHEMA IF NOT EXISTS shiyu;

CREATE TABLE shiyu.load_batch (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('areas', 'incidents', 'facilities', 'patrols')),
    source          text NOT NULL,
    file_name       text NOT NULL,
    file_sha256     text NOT NULL,
    status          text NOT NULL CHECK (status IN ('loaded', 'refused')),
    read_count      integer NOT NULL DEFAULT 0,
    loaded_count    integer NOT NULL DEFAULT 0,
    updated_count   integer NOT NULL DEFAULT 0,
    unchanged_count integer NOT NULL DEFAULT 0,
    rejected_count  integer NOT NULL DEFAULT 0,
    options         jsonb NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);

CREATE TABLE shiyu.rejected_row (
    batch_id    bigint NOT NULL REFERENCES shiyu.load_batch (id) ON DELETE CASCADE,
    row_number  integer NOT NULL,
    reason      text NOT NULL,
    raw         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (batch_id, row_number)
);

CREATE TABLE shiyu.area (
    code         text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_]+$'),
    tier         text NOT NULL CHECK (tier IN ('city', 'district', 'street', 'community', 'grid')),
    parent_code  text,
    path         ltree NOT NULL,
    name         text NOT NULL,
    owner_name   text,
    owner_phone  text,
    attrs        jsonb NOT NULL DEFAULT '{}',
    geom         geometry(MultiPolygon, 4326) NOT NULL,
    area_m2      double precision NOT NULL,
    batch_id     bigint REFERENCES shiyu.load_batch (id),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX area_geom_idx ON shiyu.area USING gist (geom);
CREATE INDEX area_path_idx ON shiyu.area USING gist (path);
CREATE INDEX area_tier_idx ON shiyu.area (tier, code);

CREATE TABLE shiyu.incident (
    source       text NOT NULL,
    external_id  text NOT NULL,
    category     text NOT NULL,
    severity     smallint CHECK (severity BETWEEN 1 AND 4),
    status       text NOT NULL DEFAULT 'reported'
                 CHECK (status IN ('reported', 'registered', 'dispatched', 'handling', 'verified', 'closed')),
    reported_at  timestamptz NOT NULL,
    resolved_at  timestamptz,
    due_at       timestamptz,
    description  text,
    geom         geometry(Point, 4326) NOT NULL,
    h3_r7        bigint NOT NULL,
    h3_r8        bigint NOT NULL,
    h3_r9        bigint NOT NULL,
    h3_r10       bigint NOT NULL,
    grid_code    text,
    path         ltree,
    attrs        jsonb NOT NULL DEFAULT '{}',
    pii          jsonb NOT NULL DEFAULT '{}',
    -- No foreign key on the high-volume tables: the loader writes batch_id in
    -- the batch's own transaction, and the check cost 1M trigger calls a load.
    batch_id     bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, external_id)
);
-- Each index costs inserts (measured on 1M rows: 8 s with the primary key
-- alone, 30 s with all of these), so a large batch rebuilds them instead of
-- updating them row by row (etl/load.py).
CREATE INDEX incident_geom_idx ON shiyu.incident USING gist (geom);
CREATE INDEX incident_path_idx ON shiyu.incident USING gist (path);
CREATE INDEX incident_reported_idx ON shiyu.incident (reported_at);
CREATE INDEX incident_grid_idx ON shiyu.incident (grid_code);
CREATE INDEX incident_h3_r7_idx ON shiyu.incident (h3_r7);
CREATE INDEX incident_h3_r8_idx ON shiyu.incident (h3_r8);
CREATE INDEX incident_h3_r9_idx ON shiyu.incident (h3_r9);
CREATE INDEX incident_h3_r10_idx ON shiyu.incident (h3_r10);

CREATE TABLE shiyu.facility (
    source           text NOT NULL,
    external_id      text NOT NULL,
    type             text NOT NULL,
    name             text NOT NULL,
    service_radius_m double precision,
    geom             geometry(Point, 4326) NOT NULL,
    h3_r9            bigint,
    grid_code        text,
    path             ltree,
    attrs            jsonb NOT NULL DEFAULT '{}',
    batch_id         bigint REFERENCES shiyu.load_batch (id),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, external_id)
);
CREATE INDEX facility_geom_idx ON shiyu.facility USING gist (geom);
CREATE INDEX facility_path_idx ON shiyu.facility USING gist (path);
CREATE INDEX facility_type_idx ON shiyu.facility (type);

CREATE TABLE shiyu.patrol_ping (
    unit_id    text NOT NULL,
    ts         timestamptz NOT NULL,
    geom       geometry(Point, 4326) NOT NULL,
    h3_r10     bigint NOT NULL,
    grid_code  text,
    path       ltree,
    batch_id   bigint,
    PRIMARY KEY (unit_id, ts)
);
CREATE INDEX patrol_ping_geom_idx ON shiyu.patrol_ping USING gist (geom);
CREATE INDEX patrol_ping_path_idx ON shiyu.patrol_ping USING gist (path);
CREATE INDEX patrol_ping_ts_idx ON shiyu.patrol_ping (ts);
CREATE INDEX patrol_ping_h3_r10_idx ON shiyu.patrol_ping (h3_r10);

CREATE TABLE shiyu.app_user (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('admin', 'commander', 'officer', 'planner', 'viewer')),
    scope         ltree NOT NULL,
    password_hash text,
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shiyu.audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_name   text,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    remote_addr text
);
CREATE INDEX audit_log_at_idx ON shiyu.audit_log (at);
