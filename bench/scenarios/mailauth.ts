// Mail authentication's cost on the inbound server: the same DKIM-signed messages to two fresh servers, the checks
// off and on (inbound.verify: SPF for MAIL FROM and HELO, DKIM, DMARC, ARC), in alternating rounds; every name
// answered by a DNS stub on loopback, SPF passing for the client's 127.0.0.1. (The relay's signing: mailauth-relay.ts.)
import { generateKeyPairSync } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DkimKeys } from '../../src/mailauth/dkim-keys.js';
import { DkimSigner } from '../../src/mailauth/dkim-signer.js';
import type { BenchContext } from '../context.js';
import { DnsStub, type Zone } from '../dns-stub.js';
import type { FacteurProcess } from '../facteur-process.js';
import { cellLoad, HELO_NAME } from '../load-generator.js';
import { buildMessage, messageOctets, withFieldsOnTop, type MessageBytes } from '../message.js';
import { inboundPairResult, pairWarmup } from './alternating.js';
import { SERVER_WARMUP, TO, type InboundCell } from './inbound.js';
import { failedResult, type Scenario } from './scenario.js';

/** The sending domain: its SPF names 127.0.0.1, its DMARC policy is reject, it signs with one RSA-2048 key. */
const SENDER_DOMAIN = 'sender.example';
const FROM = `a@${SENDER_DOMAIN}`;
const SELECTOR = 'bench';

/** A message of `size` octets from FROM, signed by SENDER_DOMAIN (rsa-sha256, relaxed/relaxed), and the zone that vouches for it. */
async function signedMail(size: number): Promise<{ message: MessageBytes; zone: Zone }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = new DkimKeys([{ domain: SENDER_DOMAIN, selector: SELECTOR, algorithm: 'rsa-sha256', privateKey, file: '' }]);
  const plain = buildMessage(size, FROM, TO);
  const signed = await new DkimSigner({ keys }).sign(messageOctets(plain), SENDER_DOMAIN);
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const zone: Zone = {
    [SENDER_DOMAIN]: { txt: ['v=spf1 ip4:127.0.0.1 -all'] },
    [`_dmarc.${SENDER_DOMAIN}`]: { txt: ['v=DMARC1; p=reject'] },
    [`${SELECTOR}._domainkey.${SENDER_DOMAIN}`]: { txt: [`v=DKIM1; k=rsa; p=${p}`] },
    // The HELO identity is checked too; a real sending host publishes an address and often an SPF record.
    [HELO_NAME]: { a: ['127.0.0.1'], txt: ['v=spf1 ip4:127.0.0.1 -all'] },
  };
  return { message: withFieldsOnTop(plain, signed.fields.replace(/\n/g, '\r\n')), zone };
}

export function mailauthInboundScenario(id: string, cell: InboundCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'inbound',
    postfix: false,
    async run(ctx, target) {
      if (target !== 'facteur') return failedResult(scenario, target, 'measures facteur only');
      const { message, zone } = await signedMail(cell.size);
      const dns = await DnsStub.start(zone);
      const servers: FacteurProcess[] = [];
      const pairs: [FacteurProcess, FacteurProcess][] = [];
      try {
        const same = ctx.options.sameSides;
        const start = (p: number, verify: boolean) =>
          ctx.startFacteur(`${id}-${verify ? 'on' : 'off'}${p}`, { inbound: true, outbound: false, verify: verify && !same, dnsServers: [dns.address] });
        for (let p = 1; p <= (ctx.options.pairs ?? PAIRS); p++) {
          const off = await start(p, false);
          servers.push(off);
          const on = await start(p, true);
          servers.push(on);
          pairs.push([off, on]);
        }
        // The warm-up's messages stay: the measure counts from what is there, and removing them would tax the
        // measure's own file creations (see BenchContext.discard).
        for (const f of servers) await warm(ctx, f, message);
        const result = await inboundPairResult(ctx, id, { ...cell, message, from: FROM, to: TO }, pairs, {
          what: 'the checks',
          message: `DKIM-signed (rsa-sha256) by ${SENDER_DOMAIN}, whose SPF passes for 127.0.0.1 and DMARC is p=reject`,
          sides: same
            ? 'inbound.verify off on both sides (--same-sides: the measure\u2019s own noise; the ratio should be 1)'
            : 'inbound.verify off and on (lookups answered by a DNS stub on loopback); every stored message checked (Authentication-Results ' +
              'with spf=pass dkim=pass dmarc=pass on the "on" side, none on the "off" side)',
          targetRatio: 0.75,
          warmup: pairWarmup(ctx, WARMUP),
        });
        const stored = await Promise.all(pairs.flatMap(([off, on]) => [checkStored(off.maildirNew, false), checkStored(on.maildirNew, !same)]));
        const problems = [...result.problems, ...stored.filter((p): p is string => p !== null)];
        return { ...result, figures: { ...result.figures, dnsQueries: dns.queries }, ok: problems.length === 0, problems, target, profile: null };
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        for (const f of servers) {
          await ctx.stopFacteur(f);
          await ctx.discard(f);
        }
        await dns.close();
      }
    },
  };
  return scenario;
}

/**
 * Warm-up messages per server, four times the inbound cells': the checks' thread is a V8 of its own, whose code was
 * still being optimised (TurboFan in the platform threads, perf) 6-7 s into a run after 1,000: with 32 long
 * connections the checks' extra CPU per message was 0.29-0.30 ms after 1,000, 0.16-0.17 after 4,000 (two runs
 * each). A server runs for days; the measure is of one that has warmed up.
 */
const WARMUP = 4 * SERVER_WARMUP;

/**
 * Pairs of servers per cell (--pairs), measured together: two servers with the same config differed by up to 40 % of
 * event-loop CPU per message over a run, which one pair takes for the checks' cost. With the checks off on both sides
 * (--same-sides) the 8-session long-connection cell gave ratios of 0.70 to 1.19 with one pair, 0.83 to 1.12 with two
 * (2026-12-03, README, Performance, Sixth round).
 */
const PAIRS = 2;

/** As the shared inbound server's warm-up: half a connection per message, half over long connections. */
async function warm(ctx: BenchContext, f: FacteurProcess, message: MessageBytes): Promise<void> {
  const n = pairWarmup(ctx, WARMUP);
  if (n === 0) return;
  ctx.progress(`  facteur: new server, warming up with ${n} messages`);
  for (const perConnection of ['one', 'many'] as const) {
    const load = cellLoad({ port: f.setup.inboundPort, perConnection, pipelining: ctx.options.pipelining, message, from: FROM, to: TO });
    const r = await load(n / 2, 8);
    if (r.failed > 0) throw new Error(`warm-up: ${r.failed} messages refused: ${JSON.stringify(r.errors)}`);
  }
}

/**
 * Every stored message says the checks ran and passed (or, checks off, that none ran); null when they do, else why
 * not. All of them, not one: a run where some messages got temperror (a thread that died, a DNS stub that lagged)
 * would otherwise pass for one that checked them all, and cost less.
 */
async function checkStored(maildirNew: string, checks: boolean): Promise<string | null> {
  const names = await readdir(maildirNew);
  if (names.length === 0) return 'no message stored to check';
  const head = Buffer.alloc(4096);
  let unchecked = 0;
  let example: string | null = null;
  for (const name of names) {
    const file = await open(join(maildirNew, name), 'r');
    let text: string;
    try {
      const { bytesRead } = await file.read(head, 0, head.length, 0);
      text = head.toString('latin1', 0, bytesRead);
    } finally {
      await file.close();
    }
    const problem = storedProblem(text, checks);
    if (problem !== null) {
      unchecked++;
      example ??= problem;
    }
  }
  return unchecked === 0 ? null : `${unchecked} of ${names.length} stored messages: ${example}`;
}

/** What is wrong with one stored message's start (its header section, or 4 KiB of it), or null. */
function storedProblem(text: string, checks: boolean): string | null {
  const end = text.indexOf('\n\n');
  const ar = /^Authentication-Results: [^]*?(?=\n\S)/m.exec(end < 0 ? text : text.slice(0, end + 1))?.[0] ?? null;
  if (!checks) return ar === null ? null : 'checks off, yet an Authentication-Results field was stored';
  if (ar === null) return 'checks on, yet no Authentication-Results field was stored';
  const failed = PASSES.filter(([, pass]) => !pass.test(ar)).map(([m]) => m);
  return failed.length === 0 ? null : `checks did not all pass (${failed.join(', ')}): ${ar.replace(/\s+/g, ' ')}`;
}

const PASSES = ['spf', 'dkim', 'dmarc'].map((m) => [m, new RegExp(`\\b${m}=pass\\b`)] as const);
