// The inbound checks against a DNS server on loopback, read through a node:dns Resolver (the shape the program-wide
// resolver has): SPF, DKIM, DMARC with its verdicts, ARC, temperrors on SERVFAIL, and SPF's lookup limits.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sealMessage } from 'mailauth/lib/arc/index.js';
import { DkimSigner } from '../../../src/mailauth/dkim-signer.js';
import type { DnsResolve } from '../../../src/mailauth/dns-resolve.js';
import { InboundChecks, type CheckOutcome, type DmarcPolicyMode, type SessionFacts } from '../../../src/mailauth/message-checks.js';
import { makeTestKeys, type TestKeys } from '../../helpers/dkim.js';
import { startDnsServer, type DnsServer, type ZoneEntry } from '../../helpers/dns-server.js';

const HOST = 'mx.test';
const spf = (record: string): ZoneEntry => ({ TXT: [record] });
const dmarc = (record: string): ZoneEntry => ({ TXT: [record] });

/** include:c1 → c2 → … → c12: more DNS-querying terms than RFC 7208 §4.6.4 allows (10). */
function includeChain(): Record<string, ZoneEntry> {
  const zone: Record<string, ZoneEntry> = { 'chain.example': spf('v=spf1 include:c1.chain.example -all') };
  for (let i = 1; i <= 12; i++) zone[`c${i}.chain.example`] = spf(i === 12 ? 'v=spf1 ip4:127.0.0.1 -all' : `v=spf1 include:c${i + 1}.chain.example -all`);
  return zone;
}

const ZONE: Record<string, ZoneEntry> = {
  // A domain that does everything right: SPF for the test client, DKIM keys (added below), p=reject.
  'example.org': spf('v=spf1 ip4:127.0.0.1 ip6:::1 -all'),
  '_dmarc.example.org': dmarc('v=DMARC1; p=reject; rua=mailto:dmarc@example.org'),
  // The attacker's own domain, whose SPF passes for the test client.
  'attacker.example': spf('v=spf1 ip4:127.0.0.0/8 -all'),
  'bank.example': spf('v=spf1 -all'),
  '_dmarc.bank.example': dmarc('v=DMARC1; p=reject'),
  'shop.example': spf('v=spf1 -all'),
  '_dmarc.shop.example': dmarc('v=DMARC1; p=quarantine'),
  'sampled.example': spf('v=spf1 -all'),
  '_dmarc.sampled.example': dmarc('v=DMARC1; p=reject; pct=0'),
  // A domain whose name servers fail, and which publishes p=reject: its mail must not be refused for that.
  'flaky.example': { servfail: true },
  '_dmarc.flaky.example': dmarc('v=DMARC1; p=reject'),
  'mail.example.org': { A: ['127.0.0.1'], ...spf('v=spf1 a -all') },
  // Alignment: SPF passes for a subdomain of the From: domain; relaxed alignment accepts it, strict does not.
  'bounces.relaxed.example': spf('v=spf1 ip4:127.0.0.1 -all'),
  '_dmarc.relaxed.example': dmarc('v=DMARC1; p=reject'),
  'bounces.strict.example': spf('v=spf1 ip4:127.0.0.1 -all'),
  '_dmarc.strict.example': dmarc('v=DMARC1; p=reject; aspf=s'),
  'void.example': spf('v=spf1 a:nx1.void.example a:nx2.void.example a:nx3.void.example ip4:127.0.0.1 -all'),
  ...includeChain(),
};

describe('inbound checks over a DNS server on loopback', () => {
  let dns: DnsServer;
  let resolve: DnsResolve;
  let keys: TestKeys;
  let signer: DkimSigner;
  before(async () => {
    keys = await makeTestKeys([
      ['example.org', 'rsa', 'rsa'],
      ['example.org', 'ed', 'ed25519'],
      ['bank.example', 'k1', 'ed25519'],
    ]);
    signer = new DkimSigner({ keys: keys.keys });
    // bank.example's key is made but not published: its signatures cannot verify. flaky.example's keys SERVFAIL.
    const { 'k1._domainkey.bank.example': _unpublished, ...published } = keys.txt;
    dns = await startDnsServer({ ...ZONE, ...published, 'k1._domainkey.flaky.example': { servfail: true } });
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([dns.address]);
    resolve = (name, rrtype) => resolver.resolve(name, rrtype);
  });
  after(async () => {
    await dns?.close();
    if (keys !== undefined) await rm(dirname(keys.keyDir), { recursive: true, force: true });
  });

  const FACTS: SessionFacts = { clientIp: '127.0.0.1', helo: 'mail.example.org', mailFrom: 'alice@example.org' };
  const message = (from: string, extra = '') => `${extra}From: ${from}\nTo: bob@mx.test\nSubject: hello\nDate: Tue, 24 Nov 2026 13:14:00 +0000\nMessage-ID: <1@x>\n\nHi Bob,\n\nsee you.\n`;

  /** Runs the checks on `text` as it would stream in during DATA. */
  async function check(text: string, facts: Partial<SessionFacts> = {}, policy: DmarcPolicyMode = 'enforce'): Promise<CheckOutcome> {
    const checks = new InboundChecks({ resolve, hostname: HOST, dmarcPolicy: policy, random: () => 0.5 });
    const run = checks.start({ ...FACTS, ...facts });
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += 100) await run.write(bytes.subarray(i, i + 100));
    return run.finish();
  }

  async function signed(text: string): Promise<string> {
    return (await signer.sign(Buffer.from(text), text.match(/^From: .*@([^>\s]+)/m)?.[1] ?? '')).fields + text;
  }

  test('a signed message from an SPF-authorised address: spf=pass dkim=pass dmarc=pass, accepted', async () => {
    const out = await check(await signed(message('Alice <alice@example.org>')));
    assert.equal(out.verdict, 'accept');
    assert.equal(out.reply, null);
    assert.equal(out.summary, 'spf=pass dkim=pass,pass dmarc=pass arc=none');
    assert.match(out.header, /^Authentication-Results: mx\.test;\n spf=pass \(mx\.test: domain of alice@example\.org designates 127\.0\.0\.1 as permitted sender\) smtp\.mailfrom=alice@example\.org;\n/);
    assert.match(out.header, /\n spf=pass \([^)]*\) smtp\.helo=mail\.example\.org;\n/);
    assert.match(out.header, /\n dkim=pass header\.d=example\.org header\.s=rsa header\.a=rsa-sha256 header\.b=\S+;\n/);
    assert.match(out.header, /\n dkim=pass header\.d=example\.org header\.s=ed header\.a=ed25519-sha256 header\.b=\S+;\n/);
    assert.match(out.header, /\n dmarc=pass \(p=REJECT arc=none\) header\.from=example\.org;\n arc=none\n$/);
  });

  test('IPv6 loopback works the same (ip6: mechanism), and an IPv4-mapped address is taken as IPv4', async () => {
    const text = await signed(message('alice@example.org'));
    assert.equal((await check(text, { clientIp: '::1' })).spf.mailFrom?.result, 'pass');
    assert.equal((await check(text, { clientIp: '::ffff:127.0.0.1' })).spf.mailFrom?.result, 'pass');
  });

  test('a check that breaks gives temperror and "accept", never a refusal or a crash', async () => {
    const broken: DnsResolve = () => {
      throw new Error('resolver exploded');
    };
    const run = new InboundChecks({ resolve: broken, hostname: HOST, dmarcPolicy: 'enforce' }).start(FACTS);
    await run.write(Buffer.from(message('security@bank.example')));
    const out = await run.finish();
    assert.equal(out.verdict, 'accept');
    assert.match(out.header, /^Authentication-Results: mx\.test;\n spf=temperror/);
  });

  test('a forged From: of a p=reject domain is refused with 550 5.7.1 naming DMARC', async () => {
    const out = await check(message('Bank <security@bank.example>'), { mailFrom: 'x@attacker.example' });
    assert.equal(out.verdict, 'reject');
    assert.equal(out.reply?.code, 550);
    assert.equal(out.reply?.enhanced, '5.7.1');
    assert.match(out.reply?.lines.join(' ') ?? '', /DMARC.*bank\.example/);
    assert.match(out.header, /dmarc=fail \(p=REJECT arc=none; refused\) header\.from=bank\.example/);
  });

  test('a signature of the wrong domain does not align: still refused', async () => {
    const text = message('security@bank.example');
    const forged = (await signer.sign(Buffer.from(text), 'example.org')).fields + text;
    const out = await check(forged, { mailFrom: 'x@attacker.example' });
    assert.deepEqual(out.dkim.map((d) => d.status.result), ['pass', 'pass']);
    assert.equal(out.verdict, 'reject');
  });

  test('alignment: an SPF pass for a subdomain aligns when relaxed, not under aspf=s', async () => {
    const relaxed = await check(message('news@relaxed.example'), { mailFrom: 'x@bounces.relaxed.example' });
    assert.equal(relaxed.dmarc[0]?.result, 'pass');
    assert.equal(relaxed.verdict, 'accept');
    const strict = await check(message('news@strict.example'), { mailFrom: 'x@bounces.strict.example' });
    assert.equal(strict.dmarc[0]?.result, 'fail');
    assert.equal(strict.verdict, 'reject');
  });

  test('"report": the same message is only recorded', async () => {
    const out = await check(message('security@bank.example'), { mailFrom: 'x@attacker.example' }, 'report');
    assert.equal(out.verdict, 'accept');
    assert.match(out.header, /dmarc=fail \(p=REJECT arc=none; policy reject, report only\)/);
  });

  test('a p=quarantine failure goes to Junk', async () => {
    const out = await check(message('deals@shop.example'), { mailFrom: 'x@attacker.example' });
    assert.equal(out.verdict, 'junk');
    assert.equal(out.reply, null);
    assert.match(out.header, /dmarc=fail \(p=QUARANTINE arc=none; to the Junk folder\) header\.from=shop\.example/);
  });

  test('pct=0: a p=reject failure gets the next milder policy, quarantine (RFC 7489 §6.6.4)', async () => {
    const out = await check(message('x@sampled.example'), { mailFrom: 'x@attacker.example' });
    assert.equal(out.verdict, 'junk');
  });

  test('SERVFAIL: temperror, never a refusal, even under p=reject', async () => {
    const text = message('ops@flaky.example');
    // A signature whose key lookup fails, by a key that does exist for the signer.
    const fields = (await signer.sign(Buffer.from(text), 'bank.example')).fields.replace(/d=bank\.example/g, 'd=flaky.example').replace(/s=k1/g, 's=k1');
    const out = await check(fields + text, { mailFrom: 'ops@flaky.example', helo: 'flaky.example' });
    assert.equal(out.spf.mailFrom?.result, 'temperror');
    assert.equal(out.spf.helo?.result, 'temperror');
    assert.equal(out.dkim[0]?.status.result, 'temperror');
    assert.equal(out.dmarc[0]?.result, 'temperror');
    assert.equal(out.verdict, 'accept');
    assert.match(out.header, /spf=temperror .* smtp\.mailfrom=ops@flaky\.example;/);
    assert.match(out.header, /dkim=temperror \(DNS failure: ESERVFAIL\) header\.d=flaky\.example/);
  });

  test('an include chain longer than 10 lookups stops at the limit: permerror (RFC 7208 §4.6.4)', async () => {
    const before = dns.questions.length;
    const out = await check(message('x@chain.example'), { mailFrom: 'x@chain.example', helo: 'nohelo' });
    assert.equal(out.spf.mailFrom?.result, 'permerror');
    assert.match(out.spf.mailFrom?.comment ?? '', /Too many DNS requests/);
    const asked = dns.questions.slice(before).filter((q) => /^c\d+\.chain\.example TXT$/.test(q));
    assert.deepEqual(asked, Array.from({ length: 10 }, (_, i) => `c${i + 1}.chain.example TXT`), 'c11 is never asked');
  });

  test('more than 2 void lookups: permerror', async () => {
    const out = await check(message('x@void.example'), { mailFrom: 'x@void.example', helo: 'nohelo' });
    assert.equal(out.spf.mailFrom?.result, 'permerror');
    assert.match(out.spf.mailFrom?.comment ?? '', /void/i);
  });

  test('the null reverse-path: SPF of the HELO identity stands for MAIL FROM, and counts for DMARC', async () => {
    const out = await check(message('postmaster@mail.example.org'), { mailFrom: null });
    assert.equal(out.spf.mailFrom, null);
    assert.equal(out.spf.helo?.result, 'pass');
    assert.match(out.header, /spf=pass \([^)]*null sender[^)]*\) smtp\.helo=mail\.example\.org/);
    assert.equal(out.dmarc[0]?.result, 'pass');
  });

  test('an unsigned message from a domain without policy: spf, dkim=none, dmarc=none, accepted', async () => {
    const out = await check(message('someone@attacker.example'), { mailFrom: 'someone@attacker.example' });
    assert.equal(out.summary, 'spf=pass dkim=none dmarc=none arc=none');
    assert.equal(out.verdict, 'accept');
  });

  test('two author domains: each is evaluated, the strictest verdict wins', async () => {
    const out = await check(message('alice@example.org, security@bank.example'), { mailFrom: 'alice@example.org' });
    assert.deepEqual(out.dmarc.map((d) => [d.domain, d.result]), [
      ['example.org', 'pass'],
      ['bank.example', 'fail'],
    ]);
    assert.equal(out.verdict, 'reject');
  });

  test('a header section past 256 KiB is refused under "enforce" (it could hide a forged From:)', async () => {
    const big = `X-Padding: ${'p'.repeat(300 * 1024)}\n`;
    const out = await check(message('security@bank.example', big), { mailFrom: 'x@attacker.example' });
    assert.equal(out.verdict, 'reject');
    assert.equal(out.reply?.code, 552);
    assert.match(out.header, /dkim=permerror/);
    assert.equal((await check(message('security@bank.example', big), { mailFrom: 'x@attacker.example' }, 'report')).verdict, 'accept');
  });

  test('SPF results are reused for a minute per (client IP, sender, HELO): no second SPF lookup; a temperror is not reused', async () => {
    let now = 1_000_000;
    const checks = new InboundChecks({ resolve, hostname: HOST, dmarcPolicy: 'enforce', now: () => now });
    const run = async (facts: Partial<SessionFacts>, text: string) => {
      const r = checks.start({ ...FACTS, ...facts });
      await r.write(Buffer.from(text));
      return r.finish();
    };
    const asked = (name: string) => dns.questions.filter((q) => q === `${name} TXT`).length;
    const text = await signed(message('alice@example.org'));
    const before = { sender: asked('example.org'), helo: asked('mail.example.org') };
    assert.equal((await run({}, text)).summary, 'spf=pass dkim=pass,pass dmarc=pass arc=none');
    assert.deepEqual({ sender: asked('example.org'), helo: asked('mail.example.org') }, { sender: before.sender + 1, helo: before.helo + 1 });
    const again = await run({}, text);
    assert.equal(again.summary, 'spf=pass dkim=pass,pass dmarc=pass arc=none');
    assert.match(again.header, /spf=pass \(mx\.test: domain of alice@example\.org designates 127\.0\.0\.1 as permitted sender\)/);
    assert.deepEqual({ sender: asked('example.org'), helo: asked('mail.example.org') }, { sender: before.sender + 1, helo: before.helo + 1 });
    // Another client address is another question; so is the same one a minute later.
    await run({ clientIp: '::1' }, text);
    assert.equal(asked('example.org'), before.sender + 2);
    now += 60_001;
    await run({}, text);
    assert.equal(asked('example.org'), before.sender + 3);
    // A DNS failure is asked about again with the next message.
    const flaky = asked('flaky.example');
    for (let i = 0; i < 2; i++) assert.equal((await run({ mailFrom: 'bob@flaky.example' }, message('bob@flaky.example'))).spf.mailFrom?.result, 'temperror');
    assert.ok(asked('flaky.example') >= flaky + 2, 'the temperror was reused');
  });

  test('an ARC chain sealed by a forwarder is validated and recorded: arc=pass', async () => {
    const keyFile = keys.keys.keysFor('example.org').find((k) => k.algorithm === 'rsa-sha256');
    assert.ok(keyFile !== undefined);
    const original = await signed(message('alice@example.org'));
    // mailauth's typings leave out authResults, cv and signTime, which sealMessage reads (signTime: one clock reading).
    const seal = await sealMessage(Buffer.from(original), {
      signingDomain: 'example.org',
      selector: 'rsa',
      privateKey: keyFile.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      authResults: 'forwarder.example; spf=pass smtp.mailfrom=alice@example.org',
      cv: 'none',
      signTime: new Date(),
    } as Parameters<typeof sealMessage>[1]);
    const out = await check(seal.toString() + original);
    assert.equal(out.arc, 'pass');
    assert.match(out.header, /\n arc=pass/);
  });
});
