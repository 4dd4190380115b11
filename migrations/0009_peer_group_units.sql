DROP INDEX `observations_peer_arr`;--> statement-breakpoint
DROP INDEX `observations_peer_industry`;--> statement-breakpoint
CREATE INDEX `observations_peer` ON `observations` (`metric_key`,`period`,`arr`,`source_id`,`industry`,`is_outlier`,`value`);