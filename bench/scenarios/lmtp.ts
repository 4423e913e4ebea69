// The MX delivering by LMTP to Dovecot (issue 16): 4 KiB messages into one Dovecot Maildir over S sessions, facteur
// (inbound.delivery = "lmtp") beside Postfix (virtual_transport = lmtp:unix:…) handing them to the same Dovecot.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { dovecotMissing, startDovecot, type Dovecot } from '../../test/helpers/dovecot.js';
import type { BenchContext } from '../context.js';
import { BENCH_MAILBOX } from '../facteur-process.js';
import { cellLoad } from '../load-generator.js';
import { emptyNewDir } from '../maildir.js';
import { buildMessage } from '../message.js';
import { POSTFIX, postfixMasterPid, postfixProblem } from '../postfix.js';
import type { ScenarioResult } from '../result.js';
import { FROM, measure, SERVER_WARMUP, TO, type InboundCell } from './inbound.js';
import { failedResult, type Scenario } from './scenario.js';

export function lmtpScenario(id: string, cell: InboundCell): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'inbound',
    postfix: true,
    async run(ctx, target) {
      const missing = dovecotMissing();
      if (missing !== null) return { ...failedResult(scenario, target, missing), ok: true, problems: [], method: `skipped: ${missing}` };
      let dovecot: Dovecot;
      try {
        dovecot = await startDovecot({ users: [{ name: BENCH_MAILBOX }] });
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      }
      try {
        const maildirNew = join(dovecot.home(BENCH_MAILBOX), 'Maildir', 'new');
        const note = `delivered by LMTP to Debian's Dovecot ${dovecotVersion()} on a Unix socket (its CPU, the same for both, not counted)`;
        return target === 'postfix' ? await viaPostfix(ctx, id, cell, dovecot, maildirNew, note) : await viaFacteur(ctx, id, cell, dovecot, maildirNew, note);
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        await dovecot.stop();
      }
    },
  };
  return scenario;
}

async function viaFacteur(ctx: BenchContext, id: string, cell: InboundCell, dovecot: Dovecot, maildirNew: string, note: string): Promise<ScenarioResult> {
  const f = await ctx.startFacteur(id, { inbound: true, outbound: false, inboundExtra: `delivery = "lmtp"\nlmtp = "unix:${dovecot.lmtp}"\n` });
  return ctx.measureOn(f, async () => {
    await warm(ctx, f.setup.inboundPort);
    await emptyNewDir(maildirNew);
    const server = { port: f.setup.inboundPort, maildirNew, pid: f.pid, singleProcess: true, close: async () => null };
    return measure(ctx, id, cell, 'facteur', server, { message: buildMessage(cell.size, FROM, TO), from: FROM, note, server: `on a fresh server (${SERVER_WARMUP} warm-up messages at its start)` });
  });
}

/** Postfix's virtual(8) deliveries for bench.test go to Dovecot's LMTP socket for the measure, then back to virtual. */
async function viaPostfix(ctx: BenchContext, id: string, cell: InboundCell, dovecot: Dovecot, maildirNew: string, note: string): Promise<ScenarioResult> {
  const problem = postfixProblem();
  const pid = postfixMasterPid();
  if (problem !== null || pid === null) throw new Error(problem ?? 'Postfix is not running');
  postfix(['postconf', '-e', `virtual_transport=lmtp:unix:${dovecot.lmtp}`]);
  postfix(['postfix', 'reload']);
  try {
    await warm(ctx, POSTFIX.port);
    await emptyNewDir(maildirNew);
    const server = { port: POSTFIX.port, maildirNew, pid, singleProcess: false, close: async () => null };
    const result = await measure(ctx, id, cell, 'postfix', server, { message: buildMessage(cell.size, FROM, TO), from: FROM, note, server: 'on the running Postfix, virtual_transport = lmtp:unix:<Dovecot socket>' });
    return { ...result, profile: null };
  } finally {
    postfix(['postconf', '-X', 'virtual_transport']);
    postfix(['postfix', 'reload']);
  }
}

/** Dovecot's first deliveries (its processes, its indexes) and the server's JIT, before the measure. */
async function warm(ctx: BenchContext, port: number): Promise<void> {
  const n = ctx.options.quick || ctx.options.warmup === 0 ? 0 : SERVER_WARMUP / 2;
  if (n === 0) return;
  ctx.progress(`  warming up with ${n} messages`);
  const load = cellLoad({ port, perConnection: 'many', pipelining: ctx.options.pipelining, message: buildMessage(4096, FROM, TO), from: FROM, to: TO });
  const r = await load(n, 8);
  if (r.failed > 0) throw new Error(`warm-up: ${r.failed} messages refused: ${JSON.stringify(r.errors)}`);
}

function postfix(argv: string[]): void {
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
}

function dovecotVersion(): string {
  return spawnSync('dovecot', ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ')[0] ?? '';
}

