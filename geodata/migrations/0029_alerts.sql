-- Alert push (docs/alerts.md): webhooks per area, and the ledger of what each was sent.
--
-- A hook is managed by the owner (`shiyu alerts add|list|remove`); shiyu_app may not read it: its URL carries
-- the robot's access token and its secret signs DingTalk posts. Its area is its scope: what it hears of is read
-- under that area's path, by row-level security and by the path passed into every query.
CREATE TABLE shiyu.alert_hook (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area_code   text NOT NULL REFERENCES shiyu.area (code),
    url         text NOT NULL CHECK (url ~ '^https?://[^/?#\s]+' AND length(url) <= 2000),
    format      text NOT NULL DEFAULT 'json' CHECK (format IN ('dingtalk', 'wecom', 'json')),
    secret      text CHECK (secret IS NULL OR (format = 'dingtalk' AND length(secret) BETWEEN 1 AND 200)),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    removed_at  timestamptz,
    removed_by  text
);
CREATE INDEX alert_hook_live_idx ON shiyu.alert_hook (id) WHERE removed_at IS NULL;

-- One message per hook per sending pass that found something new: its body is composed once and posted as it
-- is on every attempt (a DingTalk signature is made at each attempt). Attempts and the next one's time are
-- recorded, so a restarted server goes on where the last one stopped. A sender leases a message by moving
-- next_attempt_at ahead before it posts, so two senders never post the same message at once.
CREATE TABLE shiyu.alert_message (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hook_id         bigint NOT NULL REFERENCES shiyu.alert_hook (id) ON DELETE CASCADE,
    path            ltree NOT NULL,            -- the hook's area's, so the message is read under the same policy
    created_at      timestamptz NOT NULL,
    counts          jsonb NOT NULL,            -- new things by kind, and the totals the message names
    body            jsonb NOT NULL,            -- what is posted
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text,
    sent_at         timestamptz,
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX alert_message_due_idx ON shiyu.alert_message (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_message_hook_idx ON shiyu.alert_message (hook_id, created_at);

-- The de-duplication ledger: one row per thing a hook was told of, per Beijing day. A thing is an early warning
-- (grid and window), a red-light incident (source:external_id) or an escalation (the supervision_event's id);
-- its day is the day of the warning or red light, or of the escalation itself. A pass inserts its candidates
-- with ON CONFLICT DO NOTHING: only the rows it inserted are new, and only they go into its message.
CREATE TABLE shiyu.alert_item (
    hook_id     bigint NOT NULL REFERENCES shiyu.alert_hook (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('warning', 'red_light', 'escalation')),
    thing_id    text NOT NULL,
    day         date NOT NULL,
    path        ltree NOT NULL,                -- the thing's own (its grid's), held to the hook's scope by the policy
    message_id  bigint REFERENCES shiyu.alert_message (id) ON DELETE CASCADE,
    PRIMARY KEY (hook_id, kind, thing_id, day)
);
CREATE INDEX alert_item_day_idx ON shiyu.alert_item (day);
CREATE INDEX alert_item_message_idx ON shiyu.alert_item (message_id);

-- The pass composes each hook's message as shiyu_app inside the hook's scope: it can record only things of that
-- subtree. Posting, and the hooks themselves, are the owner's.
GRANT SELECT, INSERT, UPDATE ON shiyu.alert_item TO shiyu_app;
GRANT SELECT, INSERT ON shiyu.alert_message TO shiyu_app;
ALTER TABLE shiyu.alert_item ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.alert_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY in_scope ON shiyu.alert_item FOR ALL TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()))
    WITH CHECK ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
CREATE POLICY in_scope ON shiyu.alert_message FOR ALL TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()))
    WITH CHECK ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
