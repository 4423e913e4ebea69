// Per-recipient results of one delivery attempt as the MX walk goes: final ones, and each one's latest failure.
import type { Address } from '../mail/address.js';
import type { RecipientOutcome, RecipientStatus } from './courier.js';

/** Settled recipients are final; the others keep their latest failure, which becomes their diagnostic if nothing better comes. */
export class Outcomes {
  private readonly final: (RecipientOutcome | undefined)[];
  private readonly latest: { diagnostic: string; remoteMta: string | null }[];

  constructor(
    private readonly recipients: readonly Address[],
    fallback: string,
  ) {
    this.final = recipients.map(() => undefined);
    this.latest = recipients.map(() => ({ diagnostic: fallback, remoteMta: null }));
  }

  /** Indexes of the recipients without a final outcome. */
  pending(): number[] {
    return this.final.flatMap((o, i) => (o === undefined ? [i] : []));
  }

  /** Records the latest failure of recipients still pending, used if nothing better comes. */
  note(indexes: readonly number[], diagnostic: string, remoteMta: string | null): void {
    for (const i of indexes) this.latest[i] = { diagnostic, remoteMta };
  }

  /** Final outcomes; without a diagnostic, each recipient's latest failure is used. */
  settle(indexes: readonly number[], status: RecipientStatus, diagnostic?: string, remoteMta?: string | null): void {
    for (const i of indexes) {
      if (this.final[i] !== undefined) continue;
      const latest = this.latest[i] as { diagnostic: string; remoteMta: string | null };
      this.final[i] = {
        recipient: this.recipients[i] as Address,
        status,
        diagnostic: diagnostic ?? latest.diagnostic,
        remoteMta: diagnostic === undefined ? latest.remoteMta : (remoteMta ?? null),
      };
    }
  }

  /** Every recipient's outcome, in request order (call settle() on the pending ones first). */
  list(): RecipientOutcome[] {
    return this.final.map((o, i) => {
      if (o !== undefined) return o;
      const latest = this.latest[i] as { diagnostic: string; remoteMta: string | null };
      return { recipient: this.recipients[i] as Address, status: 'transient', ...latest };
    });
  }
}
