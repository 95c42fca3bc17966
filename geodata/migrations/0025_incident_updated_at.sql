-- Open311's servicerequestupdates (layers/open311_updates.py) reads the changes of a window of time from the
-- incidents' updated_at, which every upsert that changes a row sets (etl/staging.py): without this index each such
-- read would scan the whole table.
CREATE INDEX IF NOT EXISTS incident_updated_idx ON shiyu.incident (updated_at);
