-- Sessions held on the server, login throttling by client address, and refusals audited once a minute
-- with a count (docs/security.md). Replaces 0008's login_attempt, login_succeeded and user_of_session; the
-- rules of 0008 stand: shiyu_app reads none of these tables and reaches them through SECURITY DEFINER
-- functions owned by the owner, searching pg_catalog only.

-- One row per login (password or display token). The cookie holds a random session id; the table holds its
-- SHA-256. A session answers while it is unrevoked, unexpired, its user enabled and its display token (if
-- any) unrevoked; logout revokes it, and changing a user revokes theirs (the trigger below).
CREATE TABLE shiyu.login_session (
    sid_sha256 text PRIMARY KEY CHECK (sid_sha256 ~ '^[0-9a-f]{64}$'),
    user_name  text NOT NULL REFERENCES shiyu.app_user (name) ON DELETE CASCADE,
    token_id   bigint REFERENCES shiyu.api_token (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX login_session_user_idx ON shiyu.login_session (user_name);
CREATE INDEX login_session_expires_idx ON shiyu.login_session (expires_at);

-- Failed logins counted per client address (user_name '') and per name from that address. Nothing is
-- counted per name alone: an outsider who knows a name cannot make it wait for anyone but themselves.
CREATE TABLE shiyu.login_throttle (
    addr         text NOT NULL,
    user_name    text NOT NULL,
    failures     integer NOT NULL DEFAULT 0,
    last_failure timestamptz NOT NULL DEFAULT now(),
    not_before   timestamptz,
    PRIMARY KEY (addr, user_name)
);
CREATE INDEX login_throttle_last_idx ON shiyu.login_throttle (last_failure);
CREATE INDEX login_throttle_user_idx ON shiyu.login_throttle (user_name);

-- The one declaration of the throttle: so many failures are free, then each further one makes the next try
-- from there wait first_wait, doubling up to max_wait; counts are forgotten after forget_after without one.
CREATE FUNCTION shiyu.login_policy()
RETURNS TABLE (free_per_name integer, free_per_address integer, first_wait interval, max_wait interval,
               forget_after interval)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 5, 20, interval '1 second', interval '15 minutes', interval '1 hour'
$$;

DROP FUNCTION shiyu.login_attempt(text, integer, interval);
DROP FUNCTION shiyu.login_succeeded(text);
DROP FUNCTION shiyu.user_of_session(text, bigint);

-- One password check from p_addr: 'throttled' (with how long to wait) before anything is counted or any hash
-- handed out; otherwise the attempt is counted as failed for the address and for the name from it, and then
-- the user's role, scope and hash ('check'), or 'unknown' / 'disabled'. p_name NULL: a name that cannot exist,
-- counted for the address only.
CREATE FUNCTION shiyu.login_attempt(p_name text, p_addr text)
RETURNS TABLE (state text, role text, scope text, password_hash text, retry_after interval)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    pol record;
    u shiyu.app_user%ROWTYPE;
    wait_until timestamptz;
    v_who text := coalesce(p_name, '');
    v_addr text := coalesce(p_addr, '');
BEGIN
    SELECT * INTO pol FROM shiyu.login_policy();
    DELETE FROM shiyu.login_throttle t WHERE t.last_failure < now() - pol.forget_after;
    INSERT INTO shiyu.login_throttle AS t (addr, user_name) VALUES (v_addr, ''), (v_addr, v_who)
    ON CONFLICT (addr, user_name) DO NOTHING;
    PERFORM 1 FROM shiyu.login_throttle t WHERE t.addr = v_addr AND t.user_name IN ('', v_who) FOR UPDATE;
    SELECT max(t.not_before) INTO wait_until FROM shiyu.login_throttle t
    WHERE t.addr = v_addr AND t.user_name IN ('', v_who);
    IF wait_until > now() THEN
        RETURN QUERY SELECT 'throttled'::text, NULL::text, NULL::text, NULL::text, wait_until - now();
        RETURN;
    END IF;
    UPDATE shiyu.login_throttle t
    SET failures = t.failures + 1, last_failure = now(),
        not_before = CASE WHEN t.failures + 1 >= free THEN
                     now() + least(pol.max_wait, pol.first_wait * power(2, least(t.failures + 1 - free, 30))) END
    FROM (SELECT CASE WHEN n = '' THEN pol.free_per_address ELSE pol.free_per_name END AS free, n
          FROM unnest(ARRAY['', v_who]) AS n) f
    WHERE t.addr = v_addr AND t.user_name = f.n;
    SELECT * INTO u FROM shiyu.app_user a WHERE a.name = p_name;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::text, NULL::text, NULL::interval;
    ELSIF u.disabled OR u.password_hash IS NULL THEN
        RETURN QUERY SELECT 'disabled'::text, NULL::text, NULL::text, NULL::text, NULL::interval;
    ELSE
        UPDATE shiyu.app_user a SET failed_logins = a.failed_logins + 1 WHERE a.name = p_name;
        RETURN QUERY SELECT 'check'::text, u.role, u.scope::text, u.password_hash, NULL::interval;
    END IF;
END
$$;

-- The password matched: the name's count from this address is forgotten, this attempt no longer counts
-- against the address, and the user's own count (shown by `shiyu users list`) is cleared.
CREATE FUNCTION shiyu.login_succeeded(p_name text, p_addr text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM shiyu.login_throttle WHERE addr = coalesce(p_addr, '') AND user_name = p_name;
    UPDATE shiyu.login_throttle SET failures = greatest(failures - 1, 0)
    WHERE addr = coalesce(p_addr, '') AND user_name = '';
    UPDATE shiyu.app_user SET failed_logins = 0, locked_until = NULL, last_login = now()
    WHERE name = p_name AND NOT disabled;
$$;

-- A new session for an enabled user (and, for a wall screen, its unrevoked display token); false otherwise.
-- Sessions that expired are removed on the way.
CREATE FUNCTION shiyu.session_start(p_sid_sha256 text, p_name text, p_token bigint, p_lifetime interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM shiyu.login_session WHERE expires_at < now();
    INSERT INTO shiyu.login_session (sid_sha256, user_name, token_id, expires_at)
    SELECT p_sid_sha256, u.name, p_token, now() + p_lifetime
    FROM shiyu.app_user u
    WHERE u.name = p_name AND NOT u.disabled
      AND (p_token IS NULL OR EXISTS (SELECT 1 FROM shiyu.api_token t
                                      WHERE t.id = p_token AND t.user_name = u.name AND t.revoked_at IS NULL));
    RETURN FOUND;
END
$$;

-- A session's user on each request, as the user is now; no row when it was revoked, expired, or its user
-- disabled or display token revoked.
CREATE FUNCTION shiyu.user_of_session(p_sid_sha256 text)
RETURNS TABLE (user_name text, role text, scope text, display boolean, token_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.name, u.role, u.scope::text, coalesce(t.display, false), s.token_id
    FROM shiyu.login_session s
    JOIN shiyu.app_user u ON u.name = s.user_name
    LEFT JOIN shiyu.api_token t ON t.id = s.token_id
    WHERE s.sid_sha256 = p_sid_sha256 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled
      AND (s.token_id IS NULL OR (t.user_name = u.name AND t.revoked_at IS NULL))
$$;

-- Logout: this session ends (the user's other sessions, the wall's among them, go on).
CREATE FUNCTION shiyu.session_end(p_sid_sha256 text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE shiyu.login_session SET revoked_at = now() WHERE sid_sha256 = p_sid_sha256 AND revoked_at IS NULL
$$;

-- Whoever changes a user (the owner's `shiyu users`, or psql): a new role or scope, or disabling, ends all the
-- user's sessions; a new password ends their password sessions (a wall screen's stands for its display token,
-- which `shiyu users token NAME --revoke` ends).
CREATE FUNCTION shiyu.end_sessions_of_changed_user() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.role IS DISTINCT FROM OLD.role OR NEW.scope::text IS DISTINCT FROM OLD.scope::text
            OR NEW.disabled IS DISTINCT FROM OLD.disabled OR NEW.name IS DISTINCT FROM OLD.name THEN
        UPDATE shiyu.login_session SET revoked_at = now() WHERE user_name = OLD.name AND revoked_at IS NULL;
    ELSIF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
        UPDATE shiyu.login_session SET revoked_at = now()
        WHERE user_name = OLD.name AND token_id IS NULL AND revoked_at IS NULL;
        DELETE FROM shiyu.login_throttle WHERE user_name = OLD.name;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER app_user_ends_sessions AFTER UPDATE OF name, role, scope, disabled, password_hash ON shiyu.app_user
FOR EACH ROW EXECUTE FUNCTION shiyu.end_sessions_of_changed_user();

-- A refusal (401/403, a failed or throttled login) audited at most once a minute per (action, user, address,
-- reason): the minute's first writes the row, the others add to its detail's "count", so a flood of refusals
-- writes a row a minute and loses none from the count.
CREATE TABLE shiyu.audit_burst (
    action      text NOT NULL,
    user_name   text NOT NULL,
    remote_addr text NOT NULL,
    reason      text NOT NULL,
    minute      timestamptz NOT NULL,
    n           integer NOT NULL,
    audit_id    bigint,
    PRIMARY KEY (action, user_name, remote_addr, reason, minute)
);

CREATE FUNCTION shiyu.audit_refusal(p_action text, p_user text, p_addr text, p_reason text, p_detail jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key_minute timestamptz := date_trunc('minute', now());
    seen integer;
    row_id bigint;
BEGIN
    INSERT INTO shiyu.audit_burst AS b (action, user_name, remote_addr, reason, minute, n)
    VALUES (p_action, coalesce(p_user, ''), coalesce(p_addr, ''), coalesce(p_reason, ''), key_minute, 1)
    ON CONFLICT (action, user_name, remote_addr, reason, minute) DO UPDATE SET n = b.n + 1
    RETURNING b.n, b.audit_id INTO seen, row_id;
    IF seen = 1 THEN
        DELETE FROM shiyu.audit_burst WHERE minute < key_minute - interval '5 minutes';
        INSERT INTO shiyu.audit_log (user_name, action, detail, remote_addr)
        VALUES (p_user, p_action, p_detail || jsonb_build_object('count', 1), p_addr)
        RETURNING id INTO row_id;
        UPDATE shiyu.audit_burst SET audit_id = row_id
        WHERE action = p_action AND user_name = coalesce(p_user, '') AND remote_addr = coalesce(p_addr, '')
          AND reason = coalesce(p_reason, '') AND minute = key_minute;
    ELSE
        UPDATE shiyu.audit_log SET detail = jsonb_set(detail, '{count}', to_jsonb(seen)) WHERE id = row_id;
    END IF;
    RETURN row_id;
END
$$;

REVOKE ALL ON FUNCTION shiyu.login_attempt(text, text), shiyu.login_succeeded(text, text),
                       shiyu.session_start(text, text, bigint, interval), shiyu.user_of_session(text),
                       shiyu.session_end(text), shiyu.audit_refusal(text, text, text, text, jsonb),
                       shiyu.end_sessions_of_changed_user() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiyu.login_attempt(text, text), shiyu.login_succeeded(text, text),
                          shiyu.session_start(text, text, bigint, interval), shiyu.user_of_session(text),
                          shiyu.session_end(text), shiyu.audit_refusal(text, text, text, text, jsonb),
                          shiyu.login_policy() TO shiyu_app;
