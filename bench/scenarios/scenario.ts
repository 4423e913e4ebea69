// A scenario: one measure with a fixed id, runnable against facteur (and Postfix when it makes sense).
import type { BenchContext } from '../context.js';
import type { TargetName } from '../options.js';
import type { ScenarioKind, ScenarioResult } from '../result.js';

export interface Scenario {
  readonly id: string;
  readonly kind: ScenarioKind;
  /** Postfix can run it too (inbound and outbound); the others measure facteur only. */
  readonly postfix: boolean;
  run(ctx: BenchContext, target: TargetName): Promise<ScenarioResult>;
}

/** A result for a scenario that could not run at all (Postfix missing, a server that would not start...). */
export function failedResult(s: Scenario, target: TargetName, problem: string): ScenarioResult {
  return { id: s.id, kind: s.kind, target, ok: false, problems: [problem], method: '', params: {}, figures: {}, errors: {}, profile: null };
}
