-- Supervision orders (督办, docs/supervision.md): a formal order on one overdue incident, or on an area as a
-- whole, addressed to the area's accountable person, with a deadline for a reply. Issued, replied to, escalated
-- and closed from the web (as shiyu_app, inside the issuer's or addressee's scope) and by the escalation job.
--
-- An order on one incident names it by (source, external_id), the incident's key, without a foreign key: the
-- incident table is to be partitioned by reported_at, and an order outlives any reload of its incident.
-- area_code/path are the incident's grid (or the area ordered): row-level security and every roll-up of
-- orders (the league table's "orders received", the wall's counts) read the path.
CREATE TABLE shiyu.supervision_order (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_source    text,
    incident_id        text,
    area_code          text NOT NULL REFERENCES shiyu.area (code),
    path               ltree NOT NULL,
    level              text NOT NULL CHECK (level IN ('reminder', 'order', 'red_list')),  -- 提醒 / 督办 / 挂牌督办
    addressee          text NOT NULL,           -- the accountable person (area.owner_name) when issued
    addressee_phone    text,
    note               text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    issued_by          text NOT NULL,
    issued_at          timestamptz NOT NULL DEFAULT now(),
    reply_due_at       timestamptz NOT NULL,
    replied_by         text,
    replied_at         timestamptz,
    reply_text         text CHECK (length(reply_text) <= 4000),
    reply_status       text CHECK (reply_status IN ('reported', 'registered', 'dispatched', 'handling', 'verified',
                                                    'closed')),  -- the incident's state as the addressee reports it
    escalations        smallint NOT NULL DEFAULT 0,
    escalated_at       timestamptz,
    closed_at          timestamptz,
    closed_by          text,
    close_reason       text CHECK (close_reason IN ('incident_closed', 'reply_accepted', 'withdrawn')),
    CHECK ((incident_source IS NULL) = (incident_id IS NULL)),
    CHECK (reply_due_at > issued_at),
    CHECK ((closed_at IS NULL) = (close_reason IS NULL))
);
CREATE INDEX supervision_order_path_idx ON shiyu.supervision_order USING gist (path);
CREATE INDEX supervision_order_open_idx ON shiyu.supervision_order (reply_due_at) WHERE closed_at IS NULL;
CREATE INDEX supervision_order_incident_idx ON shiyu.supervision_order (incident_source, incident_id);
CREATE INDEX supervision_order_issued_idx ON shiyu.supervision_order (issued_at);
-- At most one open order per incident: a second order on it raises the first's level instead.
CREATE UNIQUE INDEX supervision_order_one_open_idx ON shiyu.supervision_order (incident_source, incident_id)
    WHERE closed_at IS NULL AND incident_id IS NOT NULL;

-- What happened to each order, in order: issued, replied, escalated, accepted, closed, withdrawn. The wall's
-- "escalated" count, the alerts and servicerequestupdates read it; audit_log keeps the who/when as well.
CREATE TABLE shiyu.supervision_event (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id  bigint NOT NULL REFERENCES shiyu.supervision_order (id) ON DELETE CASCADE,
    path      ltree NOT NULL,                   -- the order's, so the events read under the same policy
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    action    text NOT NULL CHECK (action IN ('issued', 'replied', 'escalated', 'accepted', 'closed', 'withdrawn')),
    actor     text NOT NULL,                    -- a user name, or 'system' for the escalation job
    level     text NOT NULL CHECK (level IN ('reminder', 'order', 'red_list')),  -- the order's level after it
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX supervision_event_order_idx ON shiyu.supervision_event (order_id, at);
CREATE INDEX supervision_event_at_idx ON shiyu.supervision_event (at);
CREATE INDEX supervision_event_path_idx ON shiyu.supervision_event USING gist (path);

GRANT SELECT, INSERT, UPDATE ON shiyu.supervision_order TO shiyu_app;
GRANT SELECT, INSERT ON shiyu.supervision_event TO shiyu_app;
ALTER TABLE shiyu.supervision_order ENABLE ROW LEVEL SECURITY;
ALTER TABLE shiyu.supervision_event ENABLE ROW LEVEL SECURITY;
-- Read and written inside the scope only: an officer can neither see nor issue an order outside their subtree.
CREATE POLICY in_scope ON shiyu.supervision_order FOR ALL TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()))
    WITH CHECK ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
CREATE POLICY in_scope ON shiyu.supervision_event FOR ALL TO shiyu_app
    USING ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()))
    WITH CHECK ((SELECT shiyu.scope_everything()) OR path <@ (SELECT shiyu.scope_path()));
