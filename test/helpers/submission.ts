// Submission tests' world: facteur with the relay and submission on, logins in a passwords file, a sink found through DNS.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppDeps } from '../../src/app.js';
import { hashPassword } from '../../src/submission/password-hash.js';
import { startFacteur, type Facteur } from './facteur.js';
import { startRelayWorld, type RelayWorld } from './relay.js';
import type { SmtpDialog } from './smtp-dialog.js';
import type { ReceivedMessage, SmtpPeer } from './smtp-peer.js';

/** The domain whose MX is the sink (127.0.0.2). */
export const REMOTE = 'remote.example';

/** Two users: alice with two addresses (a password on each), bob with one. */
export const USERS = {
  alice: ['alice@example.org', 'a.smith@example.org'],
  bob: ['bob@example.org'],
  postmaster: ['postmaster@example.org'],
};

export const LOGINS: Readonly<Record<string, string>> = {
  'alice@example.org': 'alice: correct horse',
  'a.smith@example.org': 'another one of alice',
  'bob@example.org': 'b0b-p\u00e4ssword',
};

/** A cheap scrypt cost: these tests are about the protocol; `facteur passwd` tests the default cost. */
const TEST_PARAMS = { ln: 10, r: 8, p: 1 };

export interface SubmissionWorld {
  readonly facteur: Facteur;
  readonly relay: RelayWorld;
  readonly sink: SmtpPeer;
  close(): Promise<void>;
}

export interface SubmissionWorldOptions {
  /** Extra lines of the [submission] table. */
  readonly submission?: string;
  /** TOML put first (top-level keys such as hostname or data_dir, and tables other than outbound and submission). */
  readonly toml?: string;
  readonly deps?: AppDeps;
}

export async function startSubmissionWorld(opts: SubmissionWorldOptions = {}): Promise<SubmissionWorld> {
  const relay = await startRelayWorld();
  const dir = await mkdtemp(join(tmpdir(), 'facteur-passwords-'));
  try {
    relay.route(REMOTE, '127.0.0.2');
    const sink = await relay.peer('127.0.0.2');
    const lines = await Promise.all(Object.entries(LOGINS).map(async ([login, pw]) => `${login}:${await hashPassword(pw, TEST_PARAMS)}`));
    const passwordsFile = join(dir, 'passwords');
    await writeFile(passwordsFile, `${lines.join('\n')}\n`, { mode: 0o600 });
    const facteur = await startFacteur({
      outbound: true,
      captureLog: true,
      users: USERS,
      ...(opts.deps === undefined ? {} : { deps: opts.deps }),
      toml: [
        opts.toml ?? '',
        relay.toml(),
        '[submission]',
        'enabled = true',
        'listen = ["127.0.0.1:0"]',
        'listen_tls = ["127.0.0.1:0"]',
        `passwords_file = ${JSON.stringify(passwordsFile)}`,
        opts.submission ?? '',
      ].join('\n'),
    });
    return {
      facteur,
      relay,
      sink,
      async close() {
        await facteur.stop();
        await relay.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await relay.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** "\0login\0password", base64: the initial response of AUTH PLAIN. */
export const plain = (login: string, password: string): string => Buffer.from(`\0${login}\0${password}`).toString('base64');

/** Connects to the submission port (STARTTLS done, or implicit TLS), says EHLO; returns the dialog. */
export async function openSession(f: Facteur, opts: { implicitTls?: boolean; localAddress?: string } = {}): Promise<SmtpDialog> {
  const d = await f.connect(opts.implicitTls === true ? 'submission-tls' : 'submission', opts.localAddress === undefined ? {} : { localAddress: opts.localAddress });
  await d.expect(220);
  if (opts.implicitTls !== true) {
    await d.command('EHLO client.example');
    await d.expect(250);
    await d.command('STARTTLS');
    await d.expect(220);
    await d.startTls();
  }
  await d.command('EHLO client.example');
  await d.expect(250);
  return d;
}

/** openSession, then AUTH PLAIN as `login`; the 235 is checked. */
export async function loggedIn(f: Facteur, login: string, opts: { implicitTls?: boolean; localAddress?: string } = {}): Promise<SmtpDialog> {
  const d = await openSession(f, opts);
  await d.command(`AUTH PLAIN ${plain(login, LOGINS[login] ?? '')}`);
  await d.expect(235, '2.7.0');
  return d;
}

/**
 * The one message the sink received for `recipient`, once the relay has logged it sent: a second copy would have
 * to come from a second attempt, and the queue item is gone after the first one that succeeds.
 */
export async function deliveredOnce(w: SubmissionWorld, recipient: string): Promise<ReceivedMessage> {
  const queued = await w.facteur.waitForLog((e) => e.event === 'queued' && (e.recipients as string[]).includes(recipient), 15_000, 0);
  await w.facteur.waitForLog((e) => e.event === 'attempt' && e.id === queued.id && e.outcome === 'sent', 15_000, 0);
  const found = w.sink.messages.filter((m) => m.to.includes(recipient));
  assert.equal(found.length, 1, `one message for ${recipient} at the sink`);
  return found[0]!;
}

/** The header section of a message as the sink got it (LF line ends), unfolded lines kept as they are. */
export function headerOf(m: ReceivedMessage): string {
  const text = m.body.toString('utf8').replaceAll('\r\n', '\n');
  const end = text.indexOf('\n\n');
  return end < 0 ? text : text.slice(0, end + 1);
}
