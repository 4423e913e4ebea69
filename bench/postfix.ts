// Postfix as a second target: the instance set up by /work/shared/bench/setup-postfix.sh, already running.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where setup-postfix.sh puts it (its defaults). */
export const POSTFIX = {
  host: '127.0.0.1',
  port: 10025,
  maildirNew: '/var/mail/vhosts/bench.test/u/new',
  /** The relay comparison: mail for this domain goes to the sink at [127.0.0.2]:10026 (a transport map). */
  relayDomain: 'remote.bench.test',
  sinkHost: '127.0.0.2',
  sinkPort: 10026,
} as const;

function postconf(...args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('postconf', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** The master daemon's pid, or null when Postfix is not running (its CPU is that of the master's tree). */
export function postfixMasterPid(): number | null {
  const q = postconf('-h', 'queue_directory');
  const pidFile = join(q.ok ? q.out : '/var/spool/postfix', 'pid', 'master.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'latin1').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** Why Postfix cannot be measured now, or null when it can. */
export function postfixProblem(): string | null {
  if (spawnSync('postconf', ['-h', 'mail_version']).status !== 0) return 'Postfix is not installed (run /work/shared/bench/setup-postfix.sh as root)';
  if (postfixMasterPid() === null) return 'Postfix is not running (START=1 /work/shared/bench/setup-postfix.sh, or postfix start)';
  if (!existsSync(POSTFIX.maildirNew)) return `no Maildir at ${POSTFIX.maildirNew} (run setup-postfix.sh)`;
  return null;
}

/**
 * Makes Postfix relay POSTFIX.relayDomain to the sink, with no DNS (a transport map to an address literal),
 * and reloads it. Idempotent. Returns why it could not, or null.
 */
export function ensurePostfixRelay(): string | null {
  const entry = `${POSTFIX.relayDomain}=smtp:[${POSTFIX.sinkHost}]:${POSTFIX.sinkPort}`;
  const current = postconf('-h', 'transport_maps');
  if (current.ok && current.out.includes(entry)) return null;
  const set = postconf('-e', `transport_maps=inline:{ ${entry} }`);
  if (!set.ok) return `postconf -e transport_maps failed: ${set.out}`;
  const reload = spawnSync('postfix', ['reload'], { encoding: 'utf8' });
  if (reload.status !== 0) return `postfix reload failed: ${reload.stderr}`;
  return null;
}
