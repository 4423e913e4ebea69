// DKIM signing's cost on the relay: the same 4 KiB messages from sender@bench.test through three fresh relays, one
// not signing, one with an RSA-2048 key, one with an Ed25519 key alone, in alternating rounds; each delivers through
// a DNS stub on loopback to one SMTP sink on 127.0.0.2 in another process.
import type { BenchContext } from '../context.js';
import { DnsStub } from '../dns-stub.js';
import { BENCH_DOMAIN, type FacteurProcess } from '../facteur-process.js';
import { cellLoad, type LoadResult } from '../load-generator.js';
import { buildMessage } from '../message.js';
import { POSTFIX } from '../postfix.js';
import { round, type ScenarioResult } from '../result.js';
import { SinkProcess } from '../sink-process.js';
import { alternate, pairFigures, pairWarmup, ratio, ROUNDS, sideFigures, type AlternatingSide, type RoundOutcome, type SideTotals } from './alternating.js';
import { clientCpu, MEASURE_NOTE } from './load-figures.js';
import type { OutboundCell } from './outbound.js';
import { failedResult, type Scenario } from './scenario.js';

const FROM = `sender@${BENCH_DOMAIN}`;
const TO = `r@${POSTFIX.relayDomain}`;
const MX_NAME = `mx.${POSTFIX.relayDomain}`;
/** Octets added per message above which it carries a DKIM-Signature (the Received field alone stays well under). */
const SIGNATURE_OCTETS = 250;
/** Unmeasured messages through each fresh relay first. */
const WARMUP = 500;

type Signing = 'off' | 'rsa' | 'ed25519';
const SIDES: readonly Signing[] = ['off', 'rsa', 'ed25519'];

export function mailauthRelayScenario(id: string, cell: Omit<OutboundCell, 'via' | 'signing'>): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'outbound',
    postfix: false,
    async run(ctx, target) {
      if (target !== 'facteur') return failedResult(scenario, target, 'measures facteur only');
      const sink = await SinkProcess.start(POSTFIX.sinkHost, 0);
      const dns = await DnsStub.start({ [POSTFIX.relayDomain]: { mx: [{ preference: 10, exchange: MX_NAME }] }, [MX_NAME]: { a: [POSTFIX.sinkHost] } });
      const relays: FacteurProcess[] = [];
      try {
        for (const signing of SIDES) {
          const dkim = signing === 'off' ? null : { domain: BENCH_DOMAIN, selector: 'bench', algorithm: signing };
          relays.push(await ctx.startFacteur(`${id}-${signing}`, { inbound: false, outbound: true, smtpPort: sink.port, dnsServers: [dns.address], submission: null, dkim }));
        }
        return { ...(await measure(ctx, id, cell, relays, sink)), target, profile: null };
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        for (const f of relays) {
          await ctx.stopFacteur(f);
          await ctx.discard(f);
        }
        await sink.close();
        await dns.close();
      }
    },
  };
  return scenario;
}

async function measure(ctx: BenchContext, id: string, cell: Omit<OutboundCell, 'via' | 'signing'>, relays: readonly FacteurProcess[], sink: SinkProcess): Promise<Omit<ScenarioResult, 'target' | 'profile'>> {
  const { options } = ctx;
  const messages = options.messages ?? (options.quick ? cell.quickMessages : cell.messages);
  const perRound = Math.max(1, Math.floor(messages / ROUNDS));
  const message = buildMessage(cell.size, FROM, TO);
  const deadline = ctx.deadline();
  const sides: AlternatingSide[] = relays.map((server, i) => {
    const submit = cellLoad({ port: server.setup.outboundPort, perConnection: cell.perConnection, pipelining: options.pipelining, message, from: FROM, to: TO });
    return { name: SIDES[i] as string, server, round: relayRound(sink, (n) => submit(n, cell.sessions), deadline) };
  });
  const warmup = pairWarmup(ctx, WARMUP);
  if (warmup > 0) for (const side of sides) await side.round(warmup);
  ctx.progress(`  facteur: ${ROUNDS} rounds × ${perRound} × ${cell.size} octets relayed per side, ${cell.sessions} sessions, ${cell.perConnection} per connection`);
  const client0 = process.cpuUsage();
  const [off, rsa, ed] = (await alternate(sides, perRound)) as [SideTotals, SideTotals, SideTotals];
  const client = process.cpuUsage(client0);
  const problems: string[] = [];
  for (const [t, signing] of [[off, 'off'], [rsa, 'rsa'], [ed, 'ed25519']] as const) {
    if (t.failed > 0) problems.push(`${signing}: ${t.failed} submissions refused or failed: ${JSON.stringify(t.errors)}`);
    // What the relay adds to each message: its Received field (under 200 octets), and with signing a DKIM-Signature.
    const added = t.accepted > 0 ? (t.extra['octets'] ?? 0) / t.accepted - message.size : null;
    if (added !== null && added > SIGNATURE_OCTETS !== (signing !== 'off')) problems.push(`${signing}: the relay added ${Math.round(added)} octets per message: signing looks ${signing === 'off' ? 'on' : 'off'}`);
  }
  const offF = sideFigures(off);
  const edF = sideFigures(ed);
  return {
    id,
    kind: 'outbound',
    ok: problems.length === 0,
    problems,
    method:
      `${ROUNDS} rounds of ${perRound} messages of ${message.size} octets from ${FROM} on each of three fresh relays (${warmup} warm-up messages each): ` +
      `DKIM signing off, with one RSA-2048 key, with one Ed25519 key (dkim.domains lists ${BENCH_DOMAIN}), alternating so that drift falls on all three; ` +
      `submitted on the loopback relay over ${cell.sessions} parallel sessions (${cell.perConnection === 'one' ? 'a connection per message' : 'one connection per session'}), ` +
      `each for one recipient at ${POSTFIX.relayDomain}, whose MX comes from a DNS server on loopback and is an SMTP sink on ${POSTFIX.sinkHost} in another process; ` +
      `a round lasts until the sink has every accepted message (end to end); the sink's octets per message show each side signed or not; ` +
      `msgsPerSec and serverCpuMsPerMsg are the RSA side's; ${MEASURE_NOTE}`,
    params: { messages: perRound * ROUNDS, sessions: cell.sessions, messageSize: message.size, perConnection: cell.perConnection, pipelining: options.pipelining, rounds: ROUNDS, warmup },
    figures: {
      ...pairFigures(off, rsa, 0.8, client),
      ed25519MsgsPerSec: edF.msgsPerSec,
      ed25519ServerCpuMsPerMsg: edF.cpuMsPerMsg,
      ed25519MachineCpuMsPerMsg: edF.machineCpuMsPerMsg,
      ed25519MachineIdleShare: edF.machineIdleShare,
      ed25519OffRatio: ratio(edF.msgsPerSec, offF.msgsPerSec),
      addedOctetsPerMsg: rsa.accepted > 0 ? round((rsa.extra['octets'] ?? 0) / rsa.accepted - message.size) : null,
      clientCpuMsPerMsg: clientCpu(client, off.accepted + rsa.accepted + ed.accepted),
    },
    errors: { ...off.errors, ...rsa.errors, ...ed.errors },
  };
}

/** A round on a relay: submitted, then until the sink has every accepted message; the sink's octets counted. */
function relayRound(sink: SinkProcess, submit: (n: number) => Promise<LoadResult>, deadline: number): (n: number) => Promise<RoundOutcome> {
  return async (n) => {
    const before = await sink.counts();
    const start = Date.now();
    const result = await submit(n);
    const after = await sink.waitFor(before.messages + result.accepted, Math.max(1, deadline - Date.now()));
    const wallMs = Math.max(start + (result.endMs - result.startMs), after.lastAt) - start;
    return { wallMs, accepted: result.accepted, failed: result.failed, errors: result.errors, extra: { octets: after.bytes - before.bytes } };
  };
}
