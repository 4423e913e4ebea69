// The shape of what a scenario measured: the JSON written under bench/results/ and the rows of the printed table.
import type { TargetName } from './options.js';
import type { ProfileSummary } from './profile-summary.js';

export type ScenarioKind = 'inbound' | 'idle' | 'big' | 'outbound' | 'queue' | 'filter';

/** Every figure is a number (null when it could not be measured); names carry their unit (Ms, Mb, PerSec...). */
export type Figures = Readonly<Record<string, number | null>>;

export interface ScenarioResult {
  readonly id: string;
  readonly kind: ScenarioKind;
  readonly target: TargetName;
  /** Every message accepted and durable (or every connection held...); problems say what went wrong. */
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** How the figures were obtained, in words. */
  readonly method: string;
  readonly params: Readonly<Record<string, number | string | boolean>>;
  readonly figures: Figures;
  /** Load-generator failures by cause. */
  readonly errors: Readonly<Record<string, number>>;
  readonly profile: ProfileSummary | null;
}

/** Rounds to 3 significant decimals for the JSON: enough for any figure here, and readable. */
export const round = (n: number): number => (Number.isFinite(n) ? Math.round(n * 1000) / 1000 : n);
