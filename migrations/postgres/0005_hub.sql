-- The device hub: identities (devices, and modules with module_id set; '' for a device, as
-- module ids are never empty), their twins, pending cloud-to-device messages and the MQTT
-- sessions of persistent (CleanSession=0) clients. Documents are JSON text; the columns
-- beside them are what the hub filters, orders or updates without reading the document.
-- Times in columns are microseconds since the Unix epoch, so both dialects compare them alike.
-- Ids sort bytewise (COLLATE "C"), as in SQLite and the memory store, so paging agrees.
CREATE TABLE hub_identities (
    device_id TEXT COLLATE "C" NOT NULL,
    module_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    etag BIGINT NOT NULL,
    document TEXT NOT NULL,
    connection_state TEXT NOT NULL CHECK (connection_state IN ('connected', 'disconnected')),
    connection_state_updated_us BIGINT,
    last_activity_us BIGINT,
    PRIMARY KEY (device_id, module_id)
);
CREATE INDEX hub_identities_connection ON hub_identities (connection_state);

CREATE TABLE hub_twins (
    device_id TEXT COLLATE "C" NOT NULL,
    module_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    model_id TEXT,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (device_id, module_id),
    FOREIGN KEY (device_id, module_id) REFERENCES hub_identities (device_id, module_id) ON DELETE CASCADE
);
CREATE INDEX hub_twins_model_id ON hub_twins (model_id);

CREATE TABLE hub_c2d_messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL,
    module_id TEXT COLLATE "C" NOT NULL DEFAULT '',
    message_id TEXT NOT NULL,
    enqueued_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL,
    delivery_count BIGINT NOT NULL DEFAULT 0,
    document TEXT NOT NULL,
    FOREIGN KEY (device_id, module_id) REFERENCES hub_identities (device_id, module_id) ON DELETE CASCADE
);
CREATE INDEX hub_c2d_messages_identity ON hub_c2d_messages (device_id, module_id, seq);
CREATE INDEX hub_c2d_messages_expires ON hub_c2d_messages (expires_us);

CREATE TABLE hub_sessions (
    client_id TEXT COLLATE "C" PRIMARY KEY,
    document TEXT NOT NULL
);
