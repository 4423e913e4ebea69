// Submission over sockets: AUTH only under TLS, no sending as someone else, headers added, the ban and the hourly limit.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sendTransaction } from '../helpers/smtp-dialog.js';
import { deliveredOnce, headerOf, loggedIn, LOGINS, openSession, plain, REMOTE, startSubmissionWorld, type SubmissionWorld } from '../helpers/submission.js';
import { submit, messageText } from '../helpers/relay.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('submission (default limits)', () => {
  let w: SubmissionWorld;
  before(async () => {
    w = await startSubmissionWorld();
  });
  after(() => w.close());

  test('before TLS: EHLO offers STARTTLS and no AUTH; AUTH gets 538 5.7.11; MAIL gets 530 5.7.0', async () => {
    const d = await w.facteur.connect('submission');
    await d.expect(220);
    const ehlo = await d.ask('EHLO client.example');
    assert.ok(ehlo.lines.some((l) => l.endsWith('STARTTLS')), ehlo.lines.join('\n'));
    assert.ok(!ehlo.lines.some((l) => /AUTH/.test(l)), ehlo.lines.join('\n'));
    await d.command(`AUTH PLAIN ${plain('alice@example.org', LOGINS['alice@example.org']!)}`);
    await d.expect(538, '5.7.11');
    await d.command('MAIL FROM:<alice@example.org>');
    await d.expect(530, '5.7.0');
    await d.command('RCPT TO:<x@remote.example>');
    await d.expect(503, '5.5.1');
  });

  test('under TLS: AUTH PLAIN LOGIN offered, MAIL before AUTH gets 530 5.7.0, on both ports', async () => {
    for (const implicitTls of [false, true]) {
      const d = await w.facteur.connect(implicitTls ? 'submission-tls' : 'submission');
      await d.expect(220);
      if (!implicitTls) {
        await d.command('EHLO client.example');
        await d.expect(250);
        await d.command('STARTTLS');
        await d.expect(220);
        await d.startTls();
      }
      const ehlo = await d.ask('EHLO client.example');
      assert.ok(ehlo.lines.includes('250-AUTH PLAIN LOGIN'), ehlo.lines.join('\n'));
      assert.ok(!ehlo.lines.some((l) => l.endsWith('STARTTLS')));
      await d.command('MAIL FROM:<alice@example.org>');
      await d.expect(530, '5.7.0');
    }
  });

  test('a wrong password and an unknown user get the same 535 5.7.8, and one auth-failed line each with the address', async () => {
    const mark = w.facteur.logs().length;
    const d = await openSession(w.facteur, { localAddress: '127.0.0.11' });
    await d.command(`AUTH PLAIN ${plain('alice@example.org', 'not the password')}`);
    await d.expect(535, '5.7.8');
    await d.command('AUTH LOGIN');
    await d.expect(334);
    await d.command(b64('nobody@example.org'));
    await d.expect(334);
    await d.command(b64('whatever'));
    await d.expect(535, '5.7.8');
    // An address of no mailbox at all, and one in another domain, fail the same way.
    await d.command(`AUTH PLAIN ${plain('alice@elsewhere.example', 'x')}`);
    await d.expect(535, '5.7.8');
    const failed = w.facteur.logs().slice(mark).filter((e) => e.event === 'auth-failed');
    assert.deepEqual(failed.map((e) => [e.client, e.login, e.mechanism, e.failures]), [
      ['127.0.0.11', 'alice@example.org', 'PLAIN', 1],
      ['127.0.0.11', 'nobody@example.org', 'LOGIN', 2],
      ['127.0.0.11', 'alice@elsewhere.example', 'PLAIN', 3],
    ]);
    // The session goes on: the right password still works after failures (no ban yet).
    await d.command(`AUTH PLAIN ${plain('alice@example.org', LOGINS['alice@example.org']!)}`);
    await d.expect(235, '2.7.0');
  });

  test('malformed AUTH: bad base64 501 5.5.2, "*" cancels with 501 5.7.0, unknown mechanism 504, no mechanism 501; AUTH twice 503', async () => {
    const d = await openSession(w.facteur, { localAddress: '127.0.0.12' });
    await d.command('AUTH PLAIN !!!!');
    await d.expect(501, '5.5.2');
    await d.command('AUTH PLAIN');
    const challenge = await d.expect(334);
    assert.deepEqual(challenge.lines, ['334 ']);
    await d.command('not base64 at all');
    await d.expect(501, '5.5.2');
    await d.command('AUTH LOGIN');
    await d.expect(334);
    await d.command('*');
    await d.expect(501, '5.7.0');
    await d.command('AUTH CRAM-MD5');
    await d.expect(504, '5.5.4');
    await d.command('AUTH');
    await d.expect(501, '5.5.4');
    await d.command(`AUTH PLAIN ${b64('no NULs here')}`);
    await d.expect(501, '5.5.4');
    // None of these checked a password: none is a failed login.
    assert.equal(w.facteur.logs().filter((e) => e.event === 'auth-failed' && e.client === '127.0.0.12').length, 0);
    // LOGIN with its user name as the initial response, then a second AUTH.
    await d.command(`AUTH LOGIN ${b64('bob@example.org')}`);
    const password = await d.expect(334);
    assert.deepEqual(password.lines, [`334 ${b64('Password:')}`]);
    await d.command(b64(LOGINS['bob@example.org']!));
    await d.expect(235, '2.7.0');
    await d.command(`AUTH PLAIN ${plain('bob@example.org', LOGINS['bob@example.org']!)}`);
    await d.expect(503, '5.5.1');
  });

  test('MAIL FROM another user\'s address gets 553 5.7.1 naming it; the user\'s other address and <> are accepted', async () => {
    const d = await loggedIn(w.facteur, 'alice@example.org');
    const refused = await d.ask('MAIL FROM:<bob@example.org>');
    assert.equal(refused.code, 553);
    assert.equal(refused.enhanced, '5.7.1');
    assert.match(refused.lines[0]!, /<bob@example\.org>/);
    await d.command('MAIL FROM:<stranger@remote.example>');
    await d.expect(553, '5.7.1');
    await d.command('MAIL FROM:<A.Smith@Example.org> AUTH=<>');
    await d.expect(250, '2.1.0');
    await d.command('RSET');
    await d.expect(250);
    await d.command('MAIL FROM:<>');
    await d.expect(250, '2.1.0');
  });

  test('a From: header of someone else gets 553 5.7.1 naming it after the text, and nothing is queued', async () => {
    const d = await loggedIn(w.facteur, 'alice@example.org');
    const mark = w.facteur.logs().length;
    const text = 'From: Bob <bob@example.org>\r\nSubject: impersonation\r\n\r\nHi\r\n';
    const r = await sendTransaction(d, { from: 'alice@example.org', to: [`from-check@${REMOTE}`], text });
    assert.equal(r.code, 553);
    assert.equal(r.enhanced, '5.7.1');
    assert.match(r.lines[0]!, /From: header address <bob@example\.org>/);
    // A list with one foreign address is refused too; the session goes on.
    const two = await sendTransaction(d, { from: 'alice@example.org', to: [`from-check@${REMOTE}`], text: 'From: alice@example.org, eve@remote.example\r\n\r\nx\r\n' });
    assert.equal(two.code, 553);
    assert.match(two.lines[0]!, /<eve@remote\.example>/);
    assert.equal(w.facteur.logs().slice(mark).filter((e) => e.event === 'queued').length, 0);
    // One's own address in any form passes.
    const ok = await sendTransaction(d, { from: 'alice@example.org', to: [`from-ok@${REMOTE}`], text: 'From: "Smith, Alice" <A.Smith@example.org>\r\nSubject: fine\r\n\r\nHi\r\n' });
    assert.equal(ok.code, 250, ok.lines.join('\n'));
    await deliveredOnce(w, `from-ok@${REMOTE}`);
  });

  test('Date:, Message-ID: and From: are added when missing, kept when present; Received says ESMTPSA without the user', async () => {
    const d = await loggedIn(w.facteur, 'bob@example.org', { implicitTls: true });
    const bare = await sendTransaction(d, { from: 'bob@example.org', to: [`bare@${REMOTE}`], text: 'Subject: no date\r\n\r\nbody line\r\n' });
    assert.equal(bare.code, 250, bare.lines.join('\n'));
    const full = 'From: bob@example.org\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <given@client.example>\r\nSubject: full\r\n\r\nbody\r\n';
    assert.equal((await sendTransaction(d, { from: 'bob@example.org', to: [`full@${REMOTE}`], text: full })).code, 250);

    const added = headerOf(await deliveredOnce(w, `bare@${REMOTE}`));
    assert.match(added, /^Received: from client\.example \(\[127\.0\.0\.1\]\)\n\tby mx\.test \(facteur\) with ESMTPSA id /);
    assert.doesNotMatch(added, /authenticated|bob@example\.org\)/);
    assert.match(added, /\nSubject: no date\nFrom: <bob@example\.org>\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\nMessage-ID: <[^@>\s]+@mx\.test>\n$/);

    const kept = headerOf(await deliveredOnce(w, `full@${REMOTE}`));
    assert.match(kept, /\nDate: Thu, 01 Jan 2026 00:00:00 \+0000\nMessage-ID: <given@client\.example>\nSubject: full\n$/);
    assert.equal(kept.match(/^(Date|Message-ID|From):/gm)?.length, 3);
  });

  test('an AUTH response line over 12288 octets gets 500 5.5.6 and the session goes on', async () => {
    const d = await openSession(w.facteur, { implicitTls: true });
    await d.command('AUTH PLAIN');
    await d.expect(334);
    await d.send(`${'A'.repeat(13_000)}\r\n`);
    await d.expect(500, '5.5.6');
    await d.command('NOOP');
    await d.expect(250);
  });

  test('the loopback relay offers no AUTH and still takes mail without it', async () => {
    const d = await w.facteur.connect('outbound');
    await d.expect(220);
    const ehlo = await d.ask('EHLO local.program');
    assert.ok(!ehlo.lines.some((l) => /AUTH/.test(l)));
    await d.command('AUTH PLAIN AGEAYg==');
    await d.expect(502, '5.5.1');
    d.close();
    const { id } = await submit(w.facteur.port('outbound'), { from: 'anyone@anywhere.example', to: [`relay@${REMOTE}`], raw: messageText('relay still works') });
    assert.match(id, /^[A-Za-z0-9]+$/);
    await deliveredOnce(w, `relay@${REMOTE}`);
  });
});

describe('submission (three failures, two messages an hour, the user in Received)', () => {
  let now = Date.parse('2026-11-24T12:00:00Z');
  let w: SubmissionWorld;
  before(async () => {
    w = await startSubmissionWorld({
      deps: { now: () => new Date(now) },
      submission: ['max_auth_failures = 3', 'auth_failure_window = "10m"', 'auth_ban = "1h"', 'max_messages_per_hour = 2', 'received_shows_user = true'].join('\n'),
    });
  });
  after(() => w.close());

  test('the ban after repeated failures: 421 4.7.0 and close without a check, other addresses unaffected, then its end', async () => {
    const attacker = '127.0.0.21';
    const mark = w.facteur.logs().length;
    const d = await openSession(w.facteur, { localAddress: attacker });
    for (let i = 0; i < 3; i++) {
      await d.command(`AUTH PLAIN ${plain('alice@example.org', `guess ${i}`)}`);
      await d.expect(535, '5.7.8');
    }
    const ban = w.facteur.logs().slice(mark).find((e) => e.event === 'auth-ban');
    assert.equal(ban?.client, attacker);
    // Even the right password is not looked at now.
    await d.command(`AUTH PLAIN ${plain('alice@example.org', LOGINS['alice@example.org']!)}`);
    await d.expect(421, '4.7.0');
    await d.expectClosed();
    const again = await openSession(w.facteur, { localAddress: attacker, implicitTls: true });
    await again.command('AUTH LOGIN');
    await again.expect(421, '4.7.0');
    assert.equal(w.facteur.logs().slice(mark).filter((e) => e.event === 'auth-failed').length, 3, 'refusals during the ban are not failures');
    (await loggedIn(w.facteur, 'alice@example.org', { localAddress: '127.0.0.22' })).close();

    now += 3_600_000; // auth_ban later
    const after = await loggedIn(w.facteur, 'alice@example.org', { localAddress: attacker });
    after.close();
  });

  test('the hourly limit: the third message of the hour gets 451 4.7.1 at MAIL, another user is not affected', async () => {
    const d = await loggedIn(w.facteur, 'alice@example.org');
    for (const n of [1, 2]) {
      const r = await sendTransaction(d, { from: 'alice@example.org', to: [`limit${n}@${REMOTE}`], text: `From: alice@example.org\r\nSubject: ${n}\r\n\r\nx\r\n` });
      assert.equal(r.code, 250, r.lines.join('\n'));
    }
    const third = await d.ask('MAIL FROM:<alice@example.org>');
    assert.equal(third.code, 451);
    assert.equal(third.enhanced, '4.7.1');
    // Alice's other address is the same user.
    const other = await loggedIn(w.facteur, 'a.smith@example.org');
    await other.command('MAIL FROM:<a.smith@example.org>');
    await other.expect(451, '4.7.1');
    const bob = await loggedIn(w.facteur, 'bob@example.org');
    await bob.command('MAIL FROM:<bob@example.org>');
    await bob.expect(250);

    now += 3_600_000;
    await d.command('MAIL FROM:<alice@example.org>');
    await d.expect(250, '2.1.0');
  });

  test('received_shows_user = true: the Received header names the login', async () => {
    const d = await loggedIn(w.facteur, 'bob@example.org');
    assert.equal((await sendTransaction(d, { from: 'bob@example.org', to: [`shows-user@${REMOTE}`], text: 'Subject: who\r\n\r\nx\r\n' })).code, 250);
    const header = headerOf(await deliveredOnce(w, `shows-user@${REMOTE}`));
    assert.match(header, /with ESMTPSA id \S+\n\t\(version=TLSv1\.[23] cipher=\S+\)\n\t\(authenticated as bob@example\.org\)\n/);
  });
});
