-- The hub's service side: shared access policies (keys and rights of back-end tokens).
-- Rights are stored as IoT Hub names separated by commas, sorted.
CREATE TABLE hub_policies (
    name TEXT COLLATE "C" PRIMARY KEY,
    name_lower TEXT NOT NULL UNIQUE,
    primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL,
    rights TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Device queries read tags and properties from the twin document: these generated columns
-- keep them as jsonb, so a query does not parse the document text of every row, and their
-- GIN indexes serve the containment test the query adds for each `path = value` condition
-- it is sure of (see src/store/service_sql.rs).
ALTER TABLE hub_twins
    ADD COLUMN q_tags jsonb GENERATED ALWAYS AS ((document::jsonb) #> '{twin,tags}') STORED,
    ADD COLUMN q_desired jsonb GENERATED ALWAYS AS ((document::jsonb) #> '{twin,desired,value}') STORED,
    ADD COLUMN q_reported jsonb GENERATED ALWAYS AS ((document::jsonb) #> '{twin,reported,value}') STORED,
    ADD COLUMN q_desired_version BIGINT GENERATED ALWAYS AS (((document::jsonb) #>> '{twin,desired,version}')::bigint) STORED,
    ADD COLUMN q_reported_version BIGINT GENERATED ALWAYS AS (((document::jsonb) #>> '{twin,reported,version}')::bigint) STORED;
CREATE INDEX hub_twins_q_tags ON hub_twins USING GIN (q_tags jsonb_path_ops);
CREATE INDEX hub_twins_q_desired ON hub_twins USING GIN (q_desired jsonb_path_ops);
CREATE INDEX hub_twins_q_reported ON hub_twins USING GIN (q_reported jsonb_path_ops);
CREATE INDEX hub_twins_collection ON hub_twins ((module_id <> ''), device_id, module_id);
