import { describe, expect, it } from "vitest";
import type { Circuit } from "../../src/domain/catalogue";
import {
  afterFailure,
  afterSuccess,
  type CircuitPolicy,
  refreshGate,
  retryDelaySeconds,
  trialAfter,
} from "../../src/ingest/circuit";

const policy: CircuitPolicy = { failureThreshold: 3, cooldownMs: 60_000 };

const OPENED_AT = "2026-03-01T12:00:00.000Z";
const opened = Date.parse(OPENED_AT);
const NOW = "2026-03-01T12:30:00.000Z";
const now = Date.parse(NOW);

const closed: Circuit = { circuitState: "closed", consecutiveFailures: 0, circuitOpenedAt: null };
const open: Circuit = { circuitState: "open", consecutiveFailures: 3, circuitOpenedAt: OPENED_AT };
const halfOpen: Circuit = { circuitState: "half_open", consecutiveFailures: 3, circuitOpenedAt: OPENED_AT };

describe("refreshGate", () => {
  it("lets a closed circuit through whatever its history", () => {
    expect(refreshGate(closed, now, policy)).toBe("closed");
    expect(
      refreshGate({ circuitState: "closed", consecutiveFailures: 2, circuitOpenedAt: null }, now, policy),
    ).toBe("closed");
    // A circuit that opened a moment ago but has since closed again is not held back by its cooldown.
    expect(
      refreshGate(
        { circuitState: "closed", consecutiveFailures: 0, circuitOpenedAt: OPENED_AT },
        opened + 1,
        policy,
      ),
    ).toBe("closed");
  });

  it("skips an open circuit within its cooldown and trials it from the cooldown on", () => {
    expect(refreshGate(open, opened, policy)).toBe("skip");
    expect(refreshGate(open, opened + 1, policy)).toBe("skip");
    expect(refreshGate(open, opened + 59_999, policy)).toBe("skip");
    expect(refreshGate(open, opened + 60_000, policy)).toBe("trial");
    expect(refreshGate(open, opened + 60_001, policy)).toBe("trial");
    expect(refreshGate(open, opened + 86_400_000, policy)).toBe("trial");
  });

  it("skips a half-open circuit while its trial is in flight and retries a lost trial after the cooldown", () => {
    expect(refreshGate(halfOpen, opened, policy)).toBe("skip");
    expect(refreshGate(halfOpen, opened + 59_999, policy)).toBe("skip");
    expect(refreshGate(halfOpen, opened + 60_000, policy)).toBe("trial");
    expect(refreshGate(halfOpen, opened + 600_000, policy)).toBe("trial");
  });

  it("follows the policy's cooldown", () => {
    const short: CircuitPolicy = { failureThreshold: 3, cooldownMs: 1_000 };
    expect(refreshGate(open, opened + 999, short)).toBe("skip");
    expect(refreshGate(open, opened + 1_000, short)).toBe("trial");
    const none: CircuitPolicy = { failureThreshold: 3, cooldownMs: 0 };
    expect(refreshGate(open, opened, none)).toBe("trial");
  });

  it("trials an open circuit that has no opening instant", () => {
    expect(
      refreshGate({ circuitState: "open", consecutiveFailures: 3, circuitOpenedAt: null }, now, policy),
    ).toBe("trial");
  });
});

describe("trialAfter", () => {
  it("is null while the circuit is closed", () => {
    expect(trialAfter(closed, policy)).toBeNull();
    expect(
      trialAfter({ circuitState: "closed", consecutiveFailures: 0, circuitOpenedAt: OPENED_AT }, policy),
    ).toBe(null);
  });

  it("is the opening instant plus the cooldown while open or half-open", () => {
    expect(trialAfter(open, policy)).toBe("2026-03-01T12:01:00.000Z");
    expect(trialAfter(halfOpen, policy)).toBe("2026-03-01T12:01:00.000Z");
    expect(trialAfter(open, { failureThreshold: 3, cooldownMs: 3_600_000 })).toBe("2026-03-01T13:00:00.000Z");
    expect(trialAfter(open, { failureThreshold: 3, cooldownMs: 0 })).toBe(OPENED_AT);
  });

  it("is null for an open circuit that has no opening instant", () => {
    expect(
      trialAfter({ circuitState: "open", consecutiveFailures: 3, circuitOpenedAt: null }, policy),
    ).toBeNull();
  });

  it("agrees with refreshGate: the first trial instant is the one it reports", () => {
    const at = Date.parse(trialAfter(open, policy)!);
    expect(refreshGate(open, at - 1, policy)).toBe("skip");
    expect(refreshGate(open, at, policy)).toBe("trial");
  });
});

describe("afterFailure", () => {
  it("counts failures below the threshold and keeps the circuit closed", () => {
    const one = afterFailure(closed, now, policy);
    expect(one).toEqual({ circuitState: "closed", consecutiveFailures: 1, circuitOpenedAt: null });
    const two = afterFailure(one, now + 1_000, policy);
    expect(two).toEqual({ circuitState: "closed", consecutiveFailures: 2, circuitOpenedAt: null });
  });

  it("keeps a closed circuit's last opening instant while counting up", () => {
    expect(
      afterFailure(
        { circuitState: "closed", consecutiveFailures: 0, circuitOpenedAt: OPENED_AT },
        now,
        policy,
      ),
    ).toEqual({ circuitState: "closed", consecutiveFailures: 1, circuitOpenedAt: OPENED_AT });
  });

  it("opens the circuit from now on the threshold-th failure", () => {
    const two: Circuit = { circuitState: "closed", consecutiveFailures: 2, circuitOpenedAt: null };
    expect(afterFailure(two, now, policy)).toEqual({
      circuitState: "open",
      consecutiveFailures: 3,
      circuitOpenedAt: NOW,
    });
  });

  it("opens a circuit whose threshold is one on its first failure", () => {
    expect(afterFailure(closed, now, { failureThreshold: 1, cooldownMs: 60_000 })).toEqual({
      circuitState: "open",
      consecutiveFailures: 1,
      circuitOpenedAt: NOW,
    });
  });

  it("walks closed → open over repeated failures", () => {
    let circuit = closed;
    const states: string[] = [];
    for (let i = 0; i < 3; i++) {
      circuit = afterFailure(circuit, now + i, policy);
      states.push(circuit.circuitState);
    }
    expect(states).toEqual(["closed", "closed", "open"]);
    expect(circuit).toEqual({
      circuitState: "open",
      consecutiveFailures: 3,
      circuitOpenedAt: "2026-03-01T12:30:00.002Z",
    });
  });

  it("reopens a half-open circuit from now when its trial fails", () => {
    expect(afterFailure(halfOpen, now, policy)).toEqual({
      circuitState: "open",
      consecutiveFailures: 4,
      circuitOpenedAt: NOW,
    });
  });

  it("reopens an open circuit from now on a further failure", () => {
    expect(afterFailure(open, now, policy)).toEqual({
      circuitState: "open",
      consecutiveFailures: 4,
      circuitOpenedAt: NOW,
    });
  });

  it("reopens even when the count is below the threshold once the circuit is not closed", () => {
    const halfOpenLow: Circuit = {
      circuitState: "half_open",
      consecutiveFailures: 0,
      circuitOpenedAt: OPENED_AT,
    };
    expect(afterFailure(halfOpenLow, now, policy)).toEqual({
      circuitState: "open",
      consecutiveFailures: 1,
      circuitOpenedAt: NOW,
    });
  });

  it("restarts the cooldown: a reopened circuit skips until now + cooldown", () => {
    const reopened = afterFailure(halfOpen, now, policy);
    expect(refreshGate(reopened, now + 59_999, policy)).toBe("skip");
    expect(refreshGate(reopened, now + 60_000, policy)).toBe("trial");
    expect(trialAfter(reopened, policy)).toBe("2026-03-01T12:31:00.000Z");
  });

  it("does not change the circuit it was given", () => {
    const before = { ...halfOpen };
    afterFailure(halfOpen, now, policy);
    expect(halfOpen).toEqual(before);
  });
});

describe("afterSuccess", () => {
  it("closes the circuit and resets the failures, keeping the last opening instant", () => {
    expect(afterSuccess(halfOpen)).toEqual({
      circuitState: "closed",
      consecutiveFailures: 0,
      circuitOpenedAt: OPENED_AT,
    });
    expect(afterSuccess(open)).toEqual({
      circuitState: "closed",
      consecutiveFailures: 0,
      circuitOpenedAt: OPENED_AT,
    });
    expect(afterSuccess({ circuitState: "closed", consecutiveFailures: 2, circuitOpenedAt: null })).toEqual({
      circuitState: "closed",
      consecutiveFailures: 0,
      circuitOpenedAt: null,
    });
  });

  it("lets the next failures count from zero again", () => {
    const closedAgain = afterSuccess(halfOpen);
    expect(refreshGate(closedAgain, opened + 1, policy)).toBe("closed");
    expect(trialAfter(closedAgain, policy)).toBeNull();
    expect(afterFailure(closedAgain, now, policy)).toEqual({
      circuitState: "closed",
      consecutiveFailures: 1,
      circuitOpenedAt: OPENED_AT,
    });
  });
});

describe("retryDelaySeconds", () => {
  it("starts at the base on the first attempt and doubles per attempt", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => retryDelaySeconds(attempt, 30))).toEqual([
      30, 60, 120, 240, 480, 960, 1920,
    ]);
    expect([1, 2, 3].map((attempt) => retryDelaySeconds(attempt, 1))).toEqual([1, 2, 4]);
    expect(retryDelaySeconds(3, 2.5)).toBe(10);
  });

  it("is capped at an hour", () => {
    expect(retryDelaySeconds(8, 30)).toBe(3600); // 3840 uncapped
    expect(retryDelaySeconds(13, 1)).toBe(3600); // 4096 uncapped
    expect(retryDelaySeconds(12, 1)).toBe(2048);
    expect(retryDelaySeconds(100, 30)).toBe(3600);
    expect(retryDelaySeconds(1, 5000)).toBe(3600);
    expect(retryDelaySeconds(1, 3600)).toBe(3600);
  });

  it("treats an attempt below one as the first", () => {
    expect(retryDelaySeconds(0, 30)).toBe(30);
    expect(retryDelaySeconds(-3, 30)).toBe(30);
  });

  it("is zero for a zero base", () => {
    expect([1, 2, 10, 100].map((attempt) => retryDelaySeconds(attempt, 0))).toEqual([0, 0, 0, 0]);
  });
});
