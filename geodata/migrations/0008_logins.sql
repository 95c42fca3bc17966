-- Logins (docs/security.md). The app role shiyu_app gets no privilege on app_user or api_token: it
-- authenticates through the SECURITY DEFINER functions below, owned by the migrating owner, which
-- answer about one named user or one token at a time, count every password check against the
-- lockout before handing out a hash, and never list, create or change users. They search pg_catalog
-- only, so every name in them is schema-qualified and scopes travel as text (ltree lives in the
-- extension's schema).

ALTER TABLE shiyu.app_user
    ALTER COLUMN scope DROP NOT NULL,  -- NULL: the whole database (admins and commanders)
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until  timestamptz,
    ADD COLUMN last_login    timestamptz;

CREATE TABLE shiyu.api_token (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_name    text NOT NULL REFERENCES shiyu.app_user (name) ON DELETE CASCADE,
    -- Only the token's SHA-256: it is 256 random bits, so a fast hash is enough and lets a lookup use the index.
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    display      boolean NOT NULL DEFAULT false,  -- a wall screen: the wall only, personal data masked
    label        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    last_addr    text,
    revoked_at   timestamptz
);
CREATE INDEX api_token_user_idx ON shiyu.api_token (user_name);

-- One password check: the user's role, scope and hash, or why not. A hash is handed out only after the
-- attempt has been counted as failed (login_succeeded clears it), so no caller reads more hashes than the
-- lockout allows; the attempt that reaches p_max_failures locks the account for p_lock.
CREATE FUNCTION shiyu.login_attempt(p_name text, p_max_failures integer, p_lock interval)
RETURNS TABLE (state text, role text, scope text, password_hash text, locked_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    u shiyu.app_user%ROWTYPE;
BEGIN
    SELECT * INTO u FROM shiyu.app_user WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::text, NULL::text, NULL::timestamptz;
    ELSIF u.disabled OR u.password_hash IS NULL THEN
        RETURN QUERY SELECT 'disabled'::text, NULL::text, NULL::text, NULL::text, NULL::timestamptz;
    ELSIF u.locked_until > now() THEN
        RETURN QUERY SELECT 'locked'::text, NULL::text, NULL::text, NULL::text, u.locked_until;
    ELSE
        UPDATE shiyu.app_user a
        SET failed_logins = a.failed_logins + 1,
            locked_until = CASE WHEN a.failed_logins + 1 >= p_max_failures THEN now() + p_lock END
        WHERE a.name = p_name
        RETURNING a.locked_until INTO u.locked_until;
        RETURN QUERY SELECT 'check'::text, u.role, u.scope::text, u.password_hash, u.locked_until;
    END IF;
END
$$;

-- The password matched: forget the failures and any lock this attempt set.
CREATE FUNCTION shiyu.login_succeeded(p_name text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE shiyu.app_user SET failed_logins = 0, locked_until = NULL, last_login = now()
    WHERE name = p_name AND NOT disabled
$$;

-- A session's user on each request: role and scope now (a disabled user, or a revoked token, ends it).
CREATE FUNCTION shiyu.user_of_session(p_name text, p_token bigint)
RETURNS TABLE (role text, scope text, display boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT u.role, u.scope::text, coalesce(t.display, false)
    FROM shiyu.app_user u LEFT JOIN shiyu.api_token t ON t.id = p_token
    WHERE u.name = p_name AND NOT u.disabled
      AND (p_token IS NULL OR (t.user_name = u.name AND t.revoked_at IS NULL))
$$;

-- A token presented: its user, recording when and from where it was used. since_last_use is the time since
-- its previous use from the same address (NULL: never, or from elsewhere), so the caller can audit a
-- client once in a while rather than on every request.
CREATE FUNCTION shiyu.token_user(p_sha256 text, p_addr text)
RETURNS TABLE (token_id bigint, user_name text, role text, scope text, display boolean, since_last_use interval)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    t shiyu.api_token%ROWTYPE;
    u shiyu.app_user%ROWTYPE;
BEGIN
    SELECT * INTO t FROM shiyu.api_token WHERE token_sha256 = p_sha256 AND revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO u FROM shiyu.app_user WHERE name = t.user_name AND NOT disabled;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE shiyu.api_token SET last_used_at = now(), last_addr = p_addr WHERE id = t.id;
    RETURN QUERY SELECT t.id, u.name, u.role, u.scope::text, t.display,
                        CASE WHEN t.last_addr IS NOT DISTINCT FROM p_addr THEN now() - t.last_used_at END;
END
$$;

REVOKE ALL ON FUNCTION shiyu.login_attempt(text, integer, interval), shiyu.login_succeeded(text),
                       shiyu.user_of_session(text, bigint), shiyu.token_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION shiyu.login_attempt(text, integer, interval), shiyu.login_succeeded(text),
                          shiyu.user_of_session(text, bigint), shiyu.token_user(text, text) TO shiyu_app;
