-- The built-in endpoint's messages in the order the hub received them (issue 12). Its lane
-- delivers many messages at once, so the order rows are inserted in (seq) can differ from the
-- order a device sent them; a device's list is read and trimmed by the envelope's enqueued
-- time, seq breaking ties. Rows from before this migration keep 0 and their seq order.
ALTER TABLE routing_telemetry ADD COLUMN enqueued_us BIGINT NOT NULL DEFAULT 0;
DROP INDEX routing_telemetry_device;
CREATE INDEX routing_telemetry_device ON routing_telemetry (device_id, enqueued_us, seq);
