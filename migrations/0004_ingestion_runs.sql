CREATE TABLE `ingestion_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`source_id` text NOT NULL,
	`trigger` text NOT NULL,
	`status` text NOT NULL,
	`received` integer DEFAULT 0 NOT NULL,
	`accepted` integer DEFAULT 0 NOT NULL,
	`rejected` integer DEFAULT 0 NOT NULL,
	`unchanged` integer DEFAULT 0 NOT NULL,
	`started_at` text NOT NULL,
	`finished_at` text,
	`error` text,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `ingestion_runs_source` ON `ingestion_runs` (`source_id`,`started_at`);--> statement-breakpoint
CREATE TABLE `staged_observations` (
	`run_id` text NOT NULL,
	`source_id` text NOT NULL,
	`metric_key` text NOT NULL,
	`period` text NOT NULL,
	`company_key` text NOT NULL,
	`value` real NOT NULL,
	`arr` real NOT NULL,
	`band_key` text NOT NULL,
	`industry` text,
	PRIMARY KEY(`run_id`, `source_id`, `metric_key`, `period`, `company_key`),
	FOREIGN KEY (`run_id`) REFERENCES `ingestion_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `staged_summaries` (
	`run_id` text NOT NULL,
	`source_id` text NOT NULL,
	`metric_key` text NOT NULL,
	`band_key` text NOT NULL,
	`period` text NOT NULL,
	`period_order` integer NOT NULL,
	`n` integer NOT NULL,
	`p10` real,
	`p25` real NOT NULL,
	`p50` real NOT NULL,
	`p75` real NOT NULL,
	`p90` real,
	PRIMARY KEY(`run_id`, `metric_key`, `band_key`, `period`, `source_id`),
	FOREIGN KEY (`run_id`) REFERENCES `ingestion_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `rejected_rows` ADD `run_id` text REFERENCES ingestion_runs(id);--> statement-breakpoint
CREATE INDEX `rejected_rows_run` ON `rejected_rows` (`run_id`,`line`);