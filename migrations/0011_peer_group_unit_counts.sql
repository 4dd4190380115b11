CREATE TABLE `peer_group_units` (
	`metric_key` text NOT NULL,
	`period` text NOT NULL,
	`source_id` text NOT NULL,
	`band_key` text NOT NULL,
	`step` integer NOT NULL,
	`industry` text NOT NULL,
	`kept` integer NOT NULL,
	`outliers` integer NOT NULL,
	`kept_sum` real NOT NULL,
	PRIMARY KEY(`metric_key`, `period`, `source_id`, `band_key`, `step`, `industry`),
	FOREIGN KEY (`metric_key`) REFERENCES `metrics`(`key`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`band_key`) REFERENCES `revenue_ranges`(`key`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `peer_group_units_cell` ON `peer_group_units` (`metric_key`,`band_key`,`period`);--> statement-breakpoint
CREATE INDEX `observations_peer_industry` ON `observations` (`metric_key`,`period`,`industry`,`arr`,`source_id`,`band_key`,`is_outlier`,`value`);--> statement-breakpoint
-- Units of the bands that stand as recompute last summarized them: the same companies kept and
-- flagged, the same mean. A band loaded since gets its units at its recompute, as it will after
-- every load from now on; until then peer groups leave it out. The step is peerGroupStep(arr).
INSERT INTO `peer_group_units` (`metric_key`, `period`, `source_id`, `band_key`, `step`, `industry`, `kept`, `outliers`, `kept_sum`)
WITH `settled` AS (
	SELECT o.metric_key, o.period, o.source_id, o.band_key
	FROM `observations` o
	JOIN `summaries` s ON s.metric_key = o.metric_key AND s.band_key = o.band_key AND s.period = o.period AND s.source_id = o.source_id
	GROUP BY o.metric_key, o.period, o.source_id, o.band_key
	HAVING s.mean IS NOT NULL
		AND sum(NOT o.is_outlier) = s.n
		AND sum(o.is_outlier) = s.outliers_excluded
		AND abs(total(CASE WHEN o.is_outlier THEN 0 ELSE o.value END) - s.mean * s.n)
			<= 1e-9 * max(1, total(CASE WHEN o.is_outlier THEN 0 ELSE abs(o.value) END))
), `members` AS (
	SELECT o.metric_key, o.period, o.source_id, o.band_key, CASE WHEN o.arr >= 1000000000000 THEN 29 WHEN o.arr >= 500000000000 THEN 28 WHEN o.arr >= 300000000000 THEN 27 WHEN o.arr >= 200000000000 THEN 26 WHEN o.arr >= 100000000000 THEN 25 WHEN o.arr >= 50000000000 THEN 24 WHEN o.arr >= 30000000000 THEN 23 WHEN o.arr >= 20000000000 THEN 22 WHEN o.arr >= 10000000000 THEN 21 WHEN o.arr >= 5000000000 THEN 20 WHEN o.arr >= 3000000000 THEN 19 WHEN o.arr >= 2000000000 THEN 18 WHEN o.arr >= 1000000000 THEN 17 WHEN o.arr >= 500000000 THEN 16 WHEN o.arr >= 300000000 THEN 15 WHEN o.arr >= 200000000 THEN 14 WHEN o.arr >= 100000000 THEN 13 WHEN o.arr >= 50000000 THEN 12 WHEN o.arr >= 30000000 THEN 11 WHEN o.arr >= 20000000 THEN 10 WHEN o.arr >= 10000000 THEN 9 WHEN o.arr >= 5000000 THEN 8 WHEN o.arr >= 3000000 THEN 7 WHEN o.arr >= 2000000 THEN 6 WHEN o.arr >= 1000000 THEN 5 WHEN o.arr >= 500000 THEN 4 WHEN o.arr >= 300000 THEN 3 WHEN o.arr >= 200000 THEN 2 WHEN o.arr >= 100000 THEN 1 ELSE 0 END AS step, o.industry, o.is_outlier, o.value
	FROM `observations` o
	JOIN `settled` b ON b.metric_key = o.metric_key AND b.period = o.period AND b.source_id = o.source_id AND b.band_key = o.band_key
)
SELECT metric_key, period, source_id, band_key, step, '', sum(NOT is_outlier), sum(is_outlier), total(CASE WHEN is_outlier THEN 0 ELSE value END)
FROM `members` GROUP BY metric_key, period, source_id, band_key, step
UNION ALL
SELECT metric_key, period, source_id, band_key, step, industry, sum(NOT is_outlier), sum(is_outlier), total(CASE WHEN is_outlier THEN 0 ELSE value END)
FROM `members` WHERE industry IS NOT NULL GROUP BY metric_key, period, source_id, band_key, step, industry;
