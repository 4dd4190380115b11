DROP INDEX `observations_peer`;--> statement-breakpoint
CREATE INDEX `observations_peer_span` ON `observations` (`metric_key`,`period`,`arr`,`source_id`,`band_key`,`industry`,`is_outlier`,`value`);