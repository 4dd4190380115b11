ALTER TABLE `summaries` ADD `median_low` real;--> statement-breakpoint
ALTER TABLE `summaries` ADD `median_high` real;--> statement-breakpoint
CREATE INDEX `observations_peer_arr` ON `observations` (`metric_key`,`period`,`arr`,`source_id`,`value`);--> statement-breakpoint
CREATE INDEX `observations_peer_industry` ON `observations` (`metric_key`,`period`,`industry`,`arr`,`source_id`,`value`);