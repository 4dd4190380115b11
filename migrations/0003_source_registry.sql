CREATE TABLE `metric_rules` (
	`metric_key` text PRIMARY KEY NOT NULL,
	`min_value` real,
	`max_value` real,
	`allowed_bands` text,
	`min_n` integer DEFAULT 10 NOT NULL,
	FOREIGN KEY (`metric_key`) REFERENCES `metrics`(`key`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "metric_rules_min_n" CHECK("metric_rules"."min_n" >= 1),
	CONSTRAINT "metric_rules_range" CHECK("metric_rules"."min_value" IS NULL OR "metric_rules"."max_value" IS NULL OR "metric_rules"."min_value" < "metric_rules"."max_value")
);
--> statement-breakpoint
ALTER TABLE `sources` ADD `format` text DEFAULT 'csv' NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `mapping` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `refresh_interval_minutes` integer;