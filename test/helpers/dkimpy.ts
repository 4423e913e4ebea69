// dkimpy (Debian's python3-dkim), the independent DKIM verifier and signer of the tests: whether it is installed, its
// verdict on each signature of a message, the public keys fetched from a DNS server on loopback
// (test/interop/dkim-verify.py), and the DKIM-Signature field it makes for a message (test/interop/dkim-sign.py).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './facteur.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot(), 'test', 'interop', 'dkim-verify.py');
const SIGN_SCRIPT = join(repoRoot(), 'test', 'interop', 'dkim-sign.py');

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
  return JSON.parse(await runPython([SCRIPT, dnsAddress], message)) as DkimpyVerdict[];
}

/** How dkimpy signs: its key file (PKCS#1 PEM for RSA, the base64 of the seed for Ed25519) and the tags it chooses. */
export interface DkimpySigning {
  readonly keyFile: string;
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';
  /** c=, "header/body". */
  readonly canonicalization: `${'relaxed' | 'simple'}/${'relaxed' | 'simple'}`;
  /** With an l= tag (the body's length as signed). */
  readonly length?: boolean;
}

/** The DKIM-Signature field dkimpy makes for `message` (CRLF line endings), with its CRLF. */
export async function dkimpySign(how: DkimpySigning, message: string | Buffer): Promise<string> {
  const args = [SIGN_SCRIPT, how.keyFile, how.domain, how.selector, how.algorithm, how.canonicalization, ...(how.length === true ? ['l'] : [])];
  return runPython(args, message);
}

async function runPython(args: readonly string[], input: string | Buffer): Promise<string> {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `${args[0]} failed: ${err}`);
  return out;
}
