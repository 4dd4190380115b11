export * from "./descriptive";
export * from "./outliers";
export * from "./panel-summary";
export * from "./percentile-rank";
export * from "./pooling";
export * from "./quantiles";
export * from "./ranking";
