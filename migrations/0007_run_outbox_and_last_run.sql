ALTER TABLE `ingestion_runs` ADD `changed_cell_list` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `last_run_id` text;