CREATE TABLE `dead_letters` (
	`message_id` text PRIMARY KEY NOT NULL,
	`queue` text NOT NULL,
	`body` text NOT NULL,
	`attempts` integer NOT NULL,
	`received_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `attempts` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `changed_cells` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ingestion_runs` ADD `recomputed_cells` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `next_refresh_at` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `circuit_state` text DEFAULT 'closed' NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `consecutive_failures` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `circuit_opened_at` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `last_error` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `last_error_at` text;