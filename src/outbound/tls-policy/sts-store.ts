// MTA-STS policies on disk, one JSON file per domain under <data_dir>/mta-sts/: a restart keeps every policy (RFC 8461 §5.1).
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { replaceFileDurably } from '../../fs/durable-file.js';
import type { StsPolicy } from './sts-policy.js';

/** A policy as fetched, with the id of the TXT record that announced it and when it stops counting. */
export interface StoredStsPolicy {
  readonly domain: string;
  /** The `id` of the _mta-sts TXT record when the policy was fetched. */
  readonly id: string;
  readonly policy: StsPolicy;
  /** When it was fetched, ms since the epoch. */
  readonly fetched: number;
  /** fetched + max_age: after this the policy no longer applies (RFC 8461 §3.2). */
  readonly expires: number;
}

/** The file, with the RFC's names so that an operator reading it recognises the policy. */
const fileSchema = z.object({
  domain: z.string(),
  id: z.string().regex(/^[A-Za-z0-9]{1,32}$/),
  fetched: z.iso.datetime(),
  expires: z.iso.datetime(),
  policy: z.object({
    version: z.literal('STSv1'),
    mode: z.enum(['enforce', 'testing', 'none']),
    max_age: z.number().int().nonnegative(),
    mx: z.array(z.string()),
  }),
});

/** Lower-case LDH labels only, so a domain name is always a safe file name (never "..", never a "/"). */
const SAFE_DOMAIN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

export class StsPolicyStore {
  constructor(
    /** <data_dir>/mta-sts, created on the first save. */
    readonly dir: string,
  ) {}

  /** The file of `domain`, or null for a name that cannot be one (then nothing is stored for it). */
  fileOf(domain: string): string | null {
    return SAFE_DOMAIN.test(domain) ? join(this.dir, `${domain}.json`) : null;
  }

  /** The stored policy, expired or not; null when there is none, or it cannot be read (a damaged file counts as none). */
  async load(domain: string): Promise<StoredStsPolicy | null> {
    const file = this.fileOf(domain);
    if (file === null) return null;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return null;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return null;
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success || parsed.data.domain !== domain) return null;
    const { id, fetched, expires, policy } = parsed.data;
    return { domain, id, fetched: Date.parse(fetched), expires: Date.parse(expires), policy: { mode: policy.mode, maxAge: policy.max_age, mx: policy.mx } };
  }

  /** Replaces the domain's file atomically (a crash leaves the old policy or the new one). */
  async save(entry: StoredStsPolicy): Promise<void> {
    const file = this.fileOf(entry.domain);
    if (file === null) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const body = {
      domain: entry.domain,
      id: entry.id,
      fetched: new Date(entry.fetched).toISOString(),
      expires: new Date(entry.expires).toISOString(),
      policy: { version: 'STSv1', mode: entry.policy.mode, max_age: entry.policy.maxAge, mx: entry.policy.mx },
    };
    await replaceFileDurably(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o644 });
  }
}
