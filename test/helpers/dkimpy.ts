// dkimpy (Debian's python3-dkim), the independent DKIM verifier of the tests: whether it is installed, and its verdict
// on each signature of a message, the public keys fetched from a DNS server on loopback (test/interop/dkim-verify.py).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './facteur.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot(), 'test', 'interop', 'dkim-verify.py');

/** false when dkimpy can run, else why the tests that need it skip. */
export const DKIMPY_SKIP: false | string = await promisify(execFile)(PYTHON, ['-c', 'import dkim, dns.resolver, nacl'], { timeout: 20_000 }).then(
  () => false,
  () => `${PYTHON} cannot import dkim, dns.resolver and nacl (apt-get install python3-dkim); .ci/run installs it`,
);

/** dkimpy's verdict on one DKIM-Signature field (in the order of the message's fields). */
export interface DkimpyVerdict {
  readonly a: string;
  readonly d: string;
  readonly s: string;
  readonly ok: boolean;
  /** Why it failed, as dkimpy says ("" when ok). */
  readonly why: string;
}

/** dkimpy's verdict on each signature of `message` (LF or CRLF line endings), keys asked of the DNS server at `dnsAddress`. */
export async function dkimpy(dnsAddress: string, message: string | Buffer): Promise<DkimpyVerdict[]> {
  const child = spawn(PYTHON, [SCRIPT, dnsAddress], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(message);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `dkim-verify.py failed: ${err}`);
  return JSON.parse(out) as DkimpyVerdict[];
}
