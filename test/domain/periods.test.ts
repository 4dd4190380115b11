import { describe, expect, it } from "vitest";
import { parsePeriod } from "../../src/domain/periods";

describe("periods", () => {
  it("parse years and quarters with their sort key and start", () => {
    expect(parsePeriod("2024")).toEqual({
      key: "2024",
      year: 2024,
      quarter: null,
      order: 20245,
      startYears: 2024,
      endYears: 2025,
    });
    expect(parsePeriod("2024-Q3")).toEqual({
      key: "2024-Q3",
      year: 2024,
      quarter: 3,
      order: 20243,
      startYears: 2024.5,
      endYears: 2024.75,
    });
  });

  it.each(["", "24", "2024-Q0", "2024-Q5", "2024Q1", "2024-q1", " 2024", "1800", "3000", "2024-H1"])(
    "reject %j",
    (text) => {
      expect(parsePeriod(text)).toBeNull();
    },
  );
});
