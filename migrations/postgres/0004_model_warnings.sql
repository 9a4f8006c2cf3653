-- Warnings stored with a model version: repository conventions it breaks but was admitted
-- with anyway (an admin's legacy import of models published before the conventions were
-- checked). A JSON array of issues ({code, message, element, pointer}); NULL when none.
ALTER TABLE models ADD COLUMN warnings TEXT;
