CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `metrics` (
	`key` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`unit` text NOT NULL,
	`direction` text NOT NULL,
	`min_value` real NOT NULL,
	`max_value` real NOT NULL,
	`definition` text NOT NULL,
	`outlier_method` text DEFAULT 'modified_z' NOT NULL,
	`sort_order` integer NOT NULL,
	CONSTRAINT "metrics_range" CHECK("metrics"."min_value" < "metrics"."max_value")
);
--> statement-breakpoint
CREATE TABLE `observations` (
	`source_id` text NOT NULL,
	`metric_key` text NOT NULL,
	`period` text NOT NULL,
	`company_key` text NOT NULL,
	`value` real NOT NULL,
	`arr` real NOT NULL,
	`band_key` text NOT NULL,
	`industry` text,
	`is_outlier` integer DEFAULT false NOT NULL,
	PRIMARY KEY(`source_id`, `metric_key`, `period`, `company_key`),
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`metric_key`) REFERENCES `metrics`(`key`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`band_key`) REFERENCES `revenue_ranges`(`key`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `observations_cell` ON `observations` (`metric_key`,`band_key`,`period`);--> statement-breakpoint
CREATE TABLE `rejected_rows` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_id` text NOT NULL,
	`line` integer NOT NULL,
	`reason` text NOT NULL,
	`rejected_at` text NOT NULL,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `rejected_rows_source` ON `rejected_rows` (`source_id`);--> statement-breakpoint
CREATE TABLE `revenue_ranges` (
	`key` text PRIMARY KEY NOT NULL,
	`min_arr` real NOT NULL,
	`max_arr` real,
	`sort_order` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sources` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`url` text,
	`active` integer DEFAULT true NOT NULL,
	`last_updated` text
);
--> statement-breakpoint
CREATE TABLE `summaries` (
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
	`outliers_excluded` integer DEFAULT 0 NOT NULL,
	`mean` real,
	`sd` real,
	`skewness` real,
	PRIMARY KEY(`metric_key`, `band_key`, `period`, `source_id`),
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`metric_key`) REFERENCES `metrics`(`key`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`band_key`) REFERENCES `revenue_ranges`(`key`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "summaries_n" CHECK("summaries"."n" > 0),
	CONSTRAINT "summaries_monotone" CHECK("summaries"."p25" <= "summaries"."p50" AND "summaries"."p50" <= "summaries"."p75")
);
--> statement-breakpoint
CREATE INDEX `summaries_latest_period` ON `summaries` (`metric_key`,`band_key`,`period_order`);--> statement-breakpoint
CREATE INDEX `summaries_source` ON `summaries` (`source_id`);