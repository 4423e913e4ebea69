// Real clients from outside Node: swaks and curl deliver to facteur (each part skips itself when its tool is missing).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';

const run = promisify(execFile);

/** Whether a program answers `--version` (it is on PATH and runs). */
async function available(program: string): Promise<boolean> {
  try {
    await run(program, ['--version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const hasSwaks = await available('swaks');
/** swaks does TLS through Perl's Net::SSLeay, which a swaks installed without its recommended packages lacks. */
const swaksHasTls = hasSwaks && (await run('perl', ['-MNet::SSLeay', '-e1']).then(() => true, () => false));
const hasCurl = await available('curl');

describe('interop with real SMTP clients', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({
      users: { alice: ['alice@example.org'], bob: ['bob@example.org'], carol: ['carol@example.org'], postmaster: ['postmaster@example.org'] },
    });
  });
  after(() => facteur.stop());

  /** The one message of a mailbox that has the subject, as text. */
  async function delivered(mailbox: string, subject: string): Promise<string> {
    const found = (await readMail(facteur.maildirRoot, mailbox)).map((m) => m.content.toString('utf8')).filter((m) => m.includes(`\nSubject: ${subject}\n`));
    assert.equal(found.length, 1, `one message "${subject}" in ${mailbox}/new`);
    return found[0]!;
  }

  const SWAKS_SKIP = hasSwaks ? false : 'swaks is not on PATH (apt-get install swaks); .ci/run installs it';
  const SWAKS_TLS_SKIP = SWAKS_SKIP || (swaksHasTls ? false : 'swaks has no TLS here (apt-get install libnet-ssleay-perl); .ci/run installs it');
  const swaks = (...args: string[]) =>
    run('swaks', ['--server', '127.0.0.1', '--from', 'sender@client.example', '--helo', 'client.example', ...args], { timeout: 30_000 });

  test('swaks delivers in plain text', { skip: SWAKS_SKIP }, async () => {
    await swaks('--port', String(facteur.port('plain')), '--to', 'alice@example.org', '--header', 'Subject: swaks plain', '--body', 'hello from swaks');
    const text = await delivered('alice', 'swaks plain');
    assert.match(text, / with ESMTP id /);
    assert.match(splitMessage(text).body, /^hello from swaks\n/);
  });

  test('swaks delivers over STARTTLS (-tls)', { skip: SWAKS_TLS_SKIP }, async () => {
    await swaks('--port', String(facteur.port('plain')), '-tls', '--to', 'alice@example.org', '--header', 'Subject: swaks starttls', '--body', 'hello over TLS');
    assert.match(await delivered('alice', 'swaks starttls'), / with ESMTPS id /);
  });

  test('swaks delivers over implicit TLS (--tlsc)', { skip: SWAKS_TLS_SKIP }, async () => {
    await swaks('--port', String(facteur.port('tls')), '--tlsc', '--to', 'alice@example.org', '--header', 'Subject: swaks tlsc', '--body', 'hello over TLS');
    assert.match(await delivered('alice', 'swaks tlsc'), / with ESMTPS id /);
  });

  test('swaks sees 550 5.1.1 for an unknown user and exits non-zero', { skip: SWAKS_SKIP }, async () => {
    await assert.rejects(swaks('--port', String(facteur.port('plain')), '--to', 'nobody@example.org'), (err: { stdout?: string }) => {
      assert.match(err.stdout ?? '', /550 5\.1\.1/);
      return true;
    });
  });

  const CURL_SKIP = hasCurl ? false : 'curl is not on PATH';
  async function messageFile(subject: string): Promise<string> {
    const file = join(facteur.dataDir, `${subject.replace(/\W/g, '-')}.eml`);
    await writeFile(file, `From: sender@client.example\r\nSubject: ${subject}\r\n\r\nHi!\r\n.dot line\r\n`);
    return file;
  }
  const curl = (...args: string[]) => run('curl', ['--silent', '--show-error', '--mail-from', 'sender@client.example', ...args], { timeout: 30_000 });

  test('curl delivers with smtp://', { skip: CURL_SKIP }, async () => {
    await curl('--url', `smtp://127.0.0.1:${facteur.port('plain')}`, '--mail-rcpt', 'bob@example.org', '--upload-file', await messageFile('curl plain'));
    const text = await delivered('bob', 'curl plain');
    assert.equal(splitMessage(text).body, 'Hi!\n.dot line\n');
  });

  test('curl delivers with STARTTLS (--ssl-reqd) and with smtps://', { skip: CURL_SKIP }, async () => {
    await curl('--url', `smtp://127.0.0.1:${facteur.port('plain')}`, '--ssl-reqd', '--insecure', '--mail-rcpt', 'carol@example.org', '--upload-file', await messageFile('curl starttls'));
    assert.match(await delivered('carol', 'curl starttls'), / with ESMTPS id /);
    await curl('--url', `smtps://127.0.0.1:${facteur.port('tls')}`, '--insecure', '--mail-rcpt', 'carol@example.org', '--upload-file', await messageFile('curl smtps'));
    assert.match(await delivered('carol', 'curl smtps'), / with ESMTPS id /);
  });
});
