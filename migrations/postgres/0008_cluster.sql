-- Several instances on one database (issue 12): the instance that serves each connected
-- identity's MQTT connection, so a takeover on another instance is not undone when the old
-- connection closes, and method calls find the instance to forward to. NULL while
-- disconnected.
ALTER TABLE hub_identities ADD COLUMN connection_owner TEXT;
CREATE INDEX hub_identities_owner ON hub_identities (connection_owner);
