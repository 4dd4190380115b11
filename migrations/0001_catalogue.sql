-- The metric catalogue and the ARR bands. Later changes to either go in new migrations.
INSERT INTO `metrics` (`key`, `name`, `unit`, `direction`, `min_value`, `max_value`, `definition`, `outlier_method`, `sort_order`) VALUES
  ('arr_growth', 'ARR growth', 'percent', 'higher_is_better', -100, 1000, 'Year-over-year change in annual recurring revenue, in percent.', 'modified_z', 1),
  ('ndr', 'Net dollar retention', 'percent', 'higher_is_better', 0, 300, 'ARR today from customers of a year ago, including expansion, over their ARR then, in percent.', 'modified_z', 2),
  ('grr', 'Gross revenue retention', 'percent', 'higher_is_better', 0, 100, 'ARR kept from customers of a year ago, excluding expansion, in percent.', 'modified_z', 3),
  ('gross_margin', 'Gross margin', 'percent', 'higher_is_better', -100, 100, 'Revenue less cost of revenue, over revenue, in percent.', 'modified_z', 4),
  ('cac_payback', 'CAC payback', 'months', 'lower_is_better', 0, 120, 'Months of gross-margin-adjusted new revenue needed to recover the cost of acquiring it.', 'modified_z', 5),
  ('burn_multiple', 'Burn multiple', 'multiple', 'lower_is_better', -20, 100, 'Net cash burned over net new ARR in the same period.', 'modified_z', 6),
  ('magic_number', 'Magic number', 'ratio', 'higher_is_better', -5, 10, 'Net new ARR in a quarter, annualized, over the previous quarter''s sales and marketing spend.', 'modified_z', 7),
  ('rule_of_40', 'Rule of 40', 'percent', 'higher_is_better', -200, 300, 'ARR growth plus free-cash-flow margin, in percent.', 'tukey', 8),
  ('ltv_cac', 'LTV to CAC', 'ratio', 'higher_is_better', 0, 100, 'Customer lifetime gross profit over the cost of acquiring the customer.', 'modified_z', 9),
  ('logo_churn', 'Logo churn', 'percent', 'lower_is_better', 0, 100, 'Share of customers at the start of a year who left during it, in percent.', 'modified_z', 10),
  ('pipeline_coverage', 'Pipeline coverage', 'multiple', 'higher_is_better', 0, 50, 'Qualified pipeline over the sales target for the same period.', 'modified_z', 11);
--> statement-breakpoint
INSERT INTO `revenue_ranges` (`key`, `min_arr`, `max_arr`, `sort_order`) VALUES
  ('0-1M', 0, 1000000, 1),
  ('1M-5M', 1000000, 5000000, 2),
  ('5M-20M', 5000000, 20000000, 3),
  ('20M-50M', 20000000, 50000000, 4),
  ('50M+', 50000000, NULL, 5);
--> statement-breakpoint
INSERT INTO `meta` (`key`, `value`) VALUES ('data_version', '1');
