export * from "./descriptive";
export * from "./outliers";
export * from "./percentile-rank";
export * from "./pooling";
export * from "./quantiles";
export * from "./ranking";
