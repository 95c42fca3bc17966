-- Live intake (docs/intake.md): feeds, their tokens, and the durable queue of posts the intake worker applies.
--
-- A feed is a source (incident.source = feed.name) with its own credential: a token of which only the SHA-256
-- is kept, as for API tokens. shiyu_app, the role the web server runs as, reads neither table: it asks
-- feed_of_token, a SECURITY DEFINER function, who a presented token is.
CREATE TABLE shiyu.feed (
    name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    scope_code text NOT NULL,
    scope      ltree,                          -- NULL: the whole database
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE shiyu.feed_token (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_name    text NOT NULL REFERENCES shiyu.feed (name) ON DELETE CASCADE,
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX feed_token_feed_idx ON shiyu.feed_token (feed_name);

-- One row per post: 'queued' once its validated rows are committed (an acknowledged post), 'applied' by the
-- worker's micro-batch in the same transaction as the rows themselves, 'refused' for a post over the reject
-- ratio (kept for the counts of `shiyu feeds list`; it has no rows).
CREATE TABLE shiyu.intake_post (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_name       text NOT NULL REFERENCES shiyu.feed (name) ON DELETE CASCADE,
    received_at     timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'applied', 'refused')),
    read_count      integer NOT NULL,
    rejected_count  integer NOT NULL,
    rejects         jsonb NOT NULL DEFAULT '[]',
    loaded_count    integer,
    updated_count   integer,
    unchanged_count integer,
    batch_id        bigint REFERENCES shiyu.load_batch (id) ON DELETE SET NULL,
    applied_at      timestamptz
);
CREATE INDEX intake_post_queued_idx ON shiyu.intake_post (id) WHERE status = 'queued';
CREATE INDEX intake_post_feed_idx ON shiyu.intake_post (feed_name, received_at);
CREATE INDEX intake_post_applied_idx ON shiyu.intake_post (applied_at);  -- `shiyu feeds status`

-- The validated rows of a queued post, in the loader's staging columns (etl/staging.py INCIDENTS.stage_columns),
-- so the worker stages a micro-batch with one INSERT … SELECT. Deleted when applied.
CREATE TABLE shiyu.intake_row (
    post_id     bigint NOT NULL REFERENCES shiyu.intake_post (id) ON DELETE CASCADE,
    row_no      integer NOT NULL,
    external_id text NOT NULL,
    category    text, severity smallint, status text,
    reported_at timestamptz, resolved_at timestamptz, due_at timestamptz, description text,
    lon float8, lat float8, h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, h3_r10 bigint, attrs jsonb, pii jsonb,
    PRIMARY KEY (post_id, row_no)
);

-- Wakes the worker (LISTEN shiyu_intake) as soon as a post commits; it also polls, so a lost notice costs a second.
CREATE FUNCTION shiyu.intake_notify() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_notify('shiyu_intake', '');
    RETURN NULL;
END $$;
CREATE TRIGGER intake_post_queued AFTER INSERT ON shiyu.intake_post
    FOR EACH STATEMENT EXECUTE FUNCTION shiyu.intake_notify();

-- Who a presented feed token is: the feed's name and scope (NULL scope: everything); no row when the token is
-- unknown or revoked, or its feed revoked.
CREATE FUNCTION shiyu.feed_of_token(p_sha text)
RETURNS TABLE (name text, scope text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.name, f.scope::text FROM shiyu.feed_token t JOIN shiyu.feed f ON f.name = t.feed_name
    WHERE t.token_sha256 = p_sha AND t.revoked_at IS NULL AND f.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION shiyu.feed_of_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiyu.feed_of_token(text) TO shiyu_app;

-- The extent of every area, for the check that a posted point lies in the city (etl.load.city_extent's, for a
-- role that may see only its scope's areas). An extent says nothing of any one area.
CREATE FUNCTION shiyu.area_extent(p_margin float8)
RETURNS TABLE (xmin float8, ymin float8, xmax float8, ymax float8)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT ST_XMin(e) - p_margin, ST_YMin(e) - p_margin, ST_XMax(e) + p_margin, ST_YMax(e) + p_margin
    FROM (SELECT ST_Extent(geom) AS e FROM shiyu.area) x WHERE e IS NOT NULL
$$;
REVOKE ALL ON FUNCTION shiyu.area_extent(float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiyu.area_extent(float8) TO shiyu_app;

-- The web server writes posts and reads their outcome; it never reads rows back nor changes a post.
GRANT SELECT, INSERT ON shiyu.intake_post TO shiyu_app;
GRANT INSERT ON shiyu.intake_row TO shiyu_app;
