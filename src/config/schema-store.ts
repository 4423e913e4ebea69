// The config fields of the local mail store (issue 16): LMTP endpoint, per-mailbox quotas, the Maildirs' group.
import type { LmtpEndpoint } from './config.js';
import { describeValue, parseSize } from './units.js';
import { field, Invalid, parseHostPort, str, type Path } from './schema-fields.js';


/** "unix:/run/dovecot/lmtp" or "127.0.0.1:24" / "[::1]:24". The path must be absolute: a daemon's cwd is no anchor. */
export function parseLmtpEndpoint(s: string): LmtpEndpoint {
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    if (!path.startsWith('/') || path.includes('\0')) throw Invalid.of(`"${s}": expected an absolute socket path, as in "unix:/run/dovecot/lmtp"`);
    return { kind: 'unix', path, text: s };
  }
  if (s.startsWith('/')) throw Invalid.of(`"${s}": write a Unix socket as "unix:${s}"`);
  const a = parseHostPort(s, 'LMTP address', 1);
  return { kind: 'tcp', host: a.host, port: a.port, text: a.text };
}

export const lmtpEndpoint = field((v) => parseLmtpEndpoint(str(v)));

/** A quota: a size ("1GB", "500MB", bytes), 0 for none. */
export function parseQuota(v: unknown): number {
  const bytes = parseSize(v);
  if (bytes < 0) throw Invalid.of(`${JSON.stringify(v)} must not be negative`);
  return bytes;
}

export const quota = field(parseQuota);

/** [inbound.quotas]: mailbox = size; mailbox names are checked against the users in the inbound refinement. */
export const quotas = field((v): Record<string, number> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Date) throw Invalid.of(`expected a table of mailbox = size, found ${describeValue(v)}`);
  const out: Record<string, number> = {};
  const problems: { path: Path; message: string }[] = [];
  for (const [name, value] of Object.entries(v)) {
    try {
      out[name] = parseQuota(value);
    } catch (err) {
      if (!(err instanceof Error)) throw err;
      problems.push({ path: [name], message: err.message });
    }
  }
  if (problems.length > 0) throw new Invalid(problems);
  return out;
});

/** A group name or number (as chgrp takes it); resolved to a gid when the app starts. */
export const groupName = field((v) => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return String(v);
  const s = str(v);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(s) && !/^\d+$/.test(s)) throw Invalid.of(`"${s}" is not a group name`);
  return s;
});

