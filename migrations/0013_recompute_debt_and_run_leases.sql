CREATE TABLE `pending_cells` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`metric_key` text NOT NULL,
	`band_key` text NOT NULL,
	`period` text NOT NULL,
	`run_id` text NOT NULL,
	`since` text NOT NULL,
	`data_version` text NOT NULL,
	`requeue_after` text NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `ingestion_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `pending_cells_cell` ON `pending_cells` (`metric_key`,`band_key`,`period`);--> statement-breakpoint
CREATE INDEX `pending_cells_run` ON `pending_cells` (`run_id`);--> statement-breakpoint
CREATE INDEX `pending_cells_requeue` ON `pending_cells` (`requeue_after`);--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `lease_owner` text;--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `lease_expires_at` text;--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `handovers` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `ingestion_runs_lease` ON `ingestion_runs` (`status`,`lease_expires_at`);--> statement-breakpoint
-- Written by hand: recomputes owed when this migration runs become pending cells, due at once.
INSERT INTO `pending_cells` (`metric_key`, `band_key`, `period`, `run_id`, `since`, `data_version`, `requeue_after`)
SELECT c.value ->> 'metricKey', c.value ->> 'bandKey', c.value ->> 'period', r.`id`, r.`finished_at`,
  coalesce((SELECT `value` FROM `meta` WHERE `key` = 'data_version'), '0'), r.`finished_at`
FROM `ingestion_runs` r, json_each(r.`changed_cell_list`) c
WHERE r.`recomputed_cells` < r.`changed_cells` AND r.`finished_at` IS NOT NULL;--> statement-breakpoint
-- Written by hand: runs in flight when this migration runs hold no lease; theirs has expired.
UPDATE `ingestion_runs` SET `lease_expires_at` = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE `status` IN ('queued', 'running');--> statement-breakpoint
ALTER TABLE `ingestion_runs` DROP COLUMN `recomputed_cells`;--> statement-breakpoint
ALTER TABLE `ingestion_runs` DROP COLUMN `changed_cell_list`;