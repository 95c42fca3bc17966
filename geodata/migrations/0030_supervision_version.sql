-- The orders' version: a counter beside the data's (0022) that moves with every supervision event (issued, replied,
-- escalated, accepted, closed), in the same transaction as the event, so the OGC API's supervision collection,
-- keyed by it (layers/ogc/pages.py), is never served from before an order was written. Kept apart from the data's
-- version so an order does not make every cached hex map and hot-spot analysis unreachable; the supervision layer
-- is keyed by both (their sum, which moves when either does).
ALTER TABLE shiyu.data_version ADD COLUMN orders bigint NOT NULL DEFAULT 0;

-- Security definer, as bump_data_version: the app's role writes orders without being granted the counter.
CREATE FUNCTION shiyu.bump_orders_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, shiyu AS $$
BEGIN
    UPDATE shiyu.data_version SET orders = orders + 1;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION shiyu.bump_orders_version() FROM PUBLIC;

-- Once per statement: an escalation pass that raises 500 orders moves it once.
CREATE TRIGGER supervision_event_written
    AFTER INSERT OR DELETE OR TRUNCATE ON shiyu.supervision_event
    FOR EACH STATEMENT EXECUTE FUNCTION shiyu.bump_orders_version();
