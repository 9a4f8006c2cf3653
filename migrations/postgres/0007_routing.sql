-- Message routing (issue 12): the outbox of routed copies waiting for their endpoint, the
-- dead letters that could not be delivered, the built-in endpoint's recent telemetry per
-- device, and the routes and endpoints managed through the API. Envelopes are the routing
-- crate's JSON form; times are microseconds since the Unix epoch, as in 0005_hub.
CREATE TABLE routing_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT COLLATE "C" NOT NULL,
    envelope TEXT NOT NULL,
    enqueued_us BIGINT NOT NULL
);
CREATE INDEX routing_outbox_endpoint ON routing_outbox (endpoint, id);

CREATE TABLE routing_dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT COLLATE "C" NOT NULL,
    entry_id BIGINT NOT NULL,
    document TEXT NOT NULL,
    at_us BIGINT NOT NULL
);
CREATE INDEX routing_dead_letters_endpoint ON routing_dead_letters (endpoint, id);

-- seq orders a device's messages; (device_id, envelope_id) makes a redelivery a no-op.
CREATE TABLE routing_telemetry (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL,
    envelope_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    UNIQUE (device_id, envelope_id)
);
CREATE INDEX routing_telemetry_device ON routing_telemetry (device_id, seq);

-- Routes and endpoints as JSON documents (the routing crate's serde form), by name.
CREATE TABLE routing_routes (
    name TEXT COLLATE "C" PRIMARY KEY,
    position BIGINT NOT NULL,
    document TEXT NOT NULL
);

CREATE TABLE routing_endpoints (
    name TEXT COLLATE "C" PRIMARY KEY,
    document TEXT NOT NULL
);
