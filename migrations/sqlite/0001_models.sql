-- Model versions, their dependency edges, tombstones of deleted DTMIs and the repository revision.
CREATE TABLE models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dtmi TEXT NOT NULL UNIQUE,
    dtmi_lower TEXT NOT NULL UNIQUE,
    versionless_lower TEXT NOT NULL,
    major_version BIGINT,
    minor_version BIGINT,
    content BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    canonical_sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    dtdl_version BIGINT NOT NULL,
    display_name TEXT,
    description TEXT,
    search_text TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('published', 'deprecated', 'decommissioned')),
    pushed_by TEXT NOT NULL,
    pushed_at TEXT NOT NULL,
    state_changed_at TEXT
);
CREATE INDEX models_versionless_lower ON models (versionless_lower);

CREATE TABLE model_dependencies (
    model_id BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    dependency_id BIGINT NOT NULL REFERENCES models (id),
    PRIMARY KEY (model_id, dependency_id)
);
CREATE INDEX model_dependencies_dependency ON model_dependencies (dependency_id);

CREATE TABLE tombstones (
    dtmi TEXT NOT NULL,
    dtmi_lower TEXT NOT NULL PRIMARY KEY,
    sha256 TEXT NOT NULL,
    canonical_sha256 TEXT NOT NULL,
    deleted_by TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);

CREATE TABLE repository_revision (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL,
    updated_at TEXT
);
INSERT INTO repository_revision (id, revision, updated_at) VALUES (1, 0, NULL);
