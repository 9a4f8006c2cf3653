-- The hub's service side: shared access policies (keys and rights of back-end tokens).
-- Rights are stored as IoT Hub names separated by commas, sorted.
CREATE TABLE hub_policies (
    name TEXT PRIMARY KEY,
    name_lower TEXT NOT NULL UNIQUE,
    primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL,
    rights TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Device queries filter on the twin document's JSON; SQLite evaluates those conditions row
-- by row (bound JSON paths cannot use an expression index), so what helps is reading the
-- collection in key order: devices and modules apart, in paging order.
CREATE INDEX hub_twins_collection ON hub_twins ((module_id <> ''), device_id, module_id);
