CREATE TABLE `staged_chunks` (
	`run_id` text NOT NULL,
	`seq` integer NOT NULL,
	`rows` text NOT NULL,
	PRIMARY KEY(`run_id`, `seq`),
	FOREIGN KEY (`run_id`) REFERENCES `ingestion_runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
DROP TABLE `staged_observations`;--> statement-breakpoint
DROP TABLE `staged_summaries`;