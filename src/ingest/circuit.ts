import type { Circuit } from "../domain/catalogue";

export interface CircuitPolicy {
  failureThreshold: number;
  cooldownMs: number;
}

/**
 * Whether a refresh may go now. An open circuit turns into one half-open trial once its
 * cooldown has passed; a trial that never reported back (its message lost) is retried after
 * another cooldown rather than leaving the source stuck half-open.
 */
export function refreshGate(
  circuit: Circuit,
  now: number,
  policy: CircuitPolicy,
): "closed" | "trial" | "skip" {
  if (circuit.circuitState === "closed") return "closed";
  const openedAt = circuit.circuitOpenedAt ? Date.parse(circuit.circuitOpenedAt) : 0;
  return now - openedAt >= policy.cooldownMs ? "trial" : "skip";
}

/** When an open circuit will next admit a trial; null while it is closed. */
export function trialAfter(circuit: Circuit, policy: CircuitPolicy): string | null {
  if (circuit.circuitState === "closed" || !circuit.circuitOpenedAt) return null;
  return new Date(Date.parse(circuit.circuitOpenedAt) + policy.cooldownMs).toISOString();
}

/** A failed attempt: the threshold or a failed trial opens the circuit (again), from now. */
export function afterFailure(circuit: Circuit, now: number, policy: CircuitPolicy): Circuit {
  const consecutiveFailures = circuit.consecutiveFailures + 1;
  const opens = circuit.circuitState !== "closed" || consecutiveFailures >= policy.failureThreshold;
  return opens
    ? { circuitState: "open", consecutiveFailures, circuitOpenedAt: new Date(now).toISOString() }
    : { circuitState: circuit.circuitState, consecutiveFailures, circuitOpenedAt: circuit.circuitOpenedAt };
}

/** A successful attempt closes the circuit and forgets the failures. */
export function afterSuccess(circuit: Circuit): Circuit {
  return { circuitState: "closed", consecutiveFailures: 0, circuitOpenedAt: circuit.circuitOpenedAt };
}

/** Delay before redelivering a failed attempt: base · 2^(attempt − 1), capped at an hour. */
export function retryDelaySeconds(attempt: number, baseSeconds: number): number {
  // The exponent is capped too, so a huge attempt count never makes 0 · ∞.
  return Math.min(3600, baseSeconds * 2 ** Math.min(32, Math.max(0, attempt - 1)));
}
