-- Facets of each model version for faceted search, written at insert: its namespace, the
-- capability kinds it has (own and inherited), the semantic types and units of its contents and
-- the interfaces of its components. `facets_indexed` marks rows whose facets were computed;
-- rows stored before this migration are indexed by the service at start (it parses them).
CREATE TABLE model_facets (
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model_id, facet, value)
);
CREATE INDEX model_facets_by_value ON model_facets (facet, value, model_id);

ALTER TABLE models ADD COLUMN facets_indexed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX models_unindexed_facets ON models (facets_indexed, id);
CREATE INDEX models_state ON models (state);
CREATE INDEX models_dtdl_version ON models (dtdl_version);
