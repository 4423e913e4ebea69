// The command line of `npm run bench` (node:util parseArgs), checked and turned into BenchOptions.
import { parseArgs } from 'node:util';

export type TargetName = 'facteur' | 'postfix';

export interface BenchOptions {
  /** Selections as given (ids or prefixes such as "inbound" or "inbound-4k"); empty: every scenario. */
  readonly scenarios: readonly string[];
  readonly quick: boolean;
  /** Overrides the message count (or queue size) of every scenario that sends messages. */
  readonly messages: number | null;
  /** Warm-up messages per inbound/outbound measure (not counted); null: the scenario's default. */
  readonly warmup: number | null;
  /** Pairs of servers per mailauth-inbound cell; null: the scenario's default (2). */
  readonly pairs: number | null;
  /** The mailauth-inbound cells with the checks off on both sides: what the measure itself does to a ratio. */
  readonly sameSides: boolean;
  readonly jsonOnly: boolean;
  /** The servers measured, in the order they run within each scenario. */
  readonly targets: readonly TargetName[];
  readonly pipelining: boolean;
  /** Submission scenarios: each new connection resumes an earlier TLS session (default: a full handshake each time). */
  readonly tlsResume: boolean;
  /** The servers' certificate key: RSA-2048 (the default), or ECDSA P-256 (what certbot issues by default). */
  readonly tlsKey: 'rsa' | 'ec';
  /** facteur's `workers` key: a number (1, the config's default: one process) or "auto" (one per CPU). */
  readonly workers: number | 'auto';
  readonly cpuProfile: boolean;
  /** With --compare-postfix: the folder of the shared side-by-side scripts, run after the scenarios; null: not run. */
  readonly sharedScripts: string | null;
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** Folder for the JSON (and profiles); null: bench/results of the checkout. */
  readonly out: string | null;
  /** Per-scenario limit, in seconds. */
  readonly timeoutSeconds: number;
  readonly keep: boolean;
  readonly list: boolean;
  readonly help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --scenario NAME      scenario id or prefix (repeatable, or a comma list): inbound, inbound-4k,
                       inbound-4k-s32-one, defences, rspamd, idle, big, outbound, queue ... (default: all;
                       --list shows them)
  --quick              every scenario at a tiny size (seconds in all; checks that everything works)
  --messages N         messages per scenario (inbound, outbound; items for queue)
  --warmup N           unmeasured messages sent first to each server (default: a tenth, at most 200; the
                       mailauth-inbound pairs 4,000 and the relay ones 500; 0: none)
  --pairs N            pairs of servers (off, on) per mailauth-inbound cell, measured together (default 2)
  --same-sides         the mailauth-inbound cells with the checks off on both sides: the measure's own noise
                       (ratios should be 1)
  --target NAME        facteur (default) or postfix (a running Postfix on 127.0.0.1:10025, see
                       /work/shared/bench/setup-postfix.sh; inbound and outbound scenarios only)
  --compare-postfix    run each inbound/outbound scenario on Postfix then on facteur, and print the ratios
  --shared-scripts DIR with --compare-postfix, then run DIR/compare-inbound.sh and compare-outbound.sh (the
                       shared side-by-side scripts; root only) and report their last lines (default /work/shared/bench)
  --no-shared-scripts  with --compare-postfix, leave the shared scripts out
  --no-pipelining      one command per round trip, even when the server offers PIPELINING
  --tls-resume         submission: each connection resumes an earlier TLS session, as running mail clients do
  --workers N|auto     facteur's worker processes (default 1, the config's default: one process; auto: one per CPU)
  --tls-key ec         the servers' certificate with an ECDSA P-256 key (certbot's default) instead of RSA-2048
                       (default: a full TLS handshake per connection)
  --cpu-prof           profile the facteur server (node --cpu-prof); top functions in the report
  --log-level LEVEL    facteur's log level (default info: one line per message, like Postfix's maillog)
  --out DIR            where the JSON goes (default bench/results/)
  --timeout SECONDS    limit per scenario (default 900)
  --json-only          print only the JSON document on stdout
  --keep               keep the temporary folders (configs, Maildirs, logs)
  --list               print the scenario ids and exit`;

export class UsageError extends Error {}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      scenario: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      messages: { type: 'string' },
      warmup: { type: 'string' },
      pairs: { type: 'string' },
      'same-sides': { type: 'boolean', default: false },
      'json-only': { type: 'boolean', default: false },
      target: { type: 'string', default: 'facteur' },
      'compare-postfix': { type: 'boolean', default: false },
      'no-pipelining': { type: 'boolean', default: false },
      'tls-resume': { type: 'boolean', default: false },
      'tls-key': { type: 'string', default: 'rsa' },
      workers: { type: 'string', default: '1' },
      'cpu-prof': { type: 'boolean', default: false },
      'shared-scripts': { type: 'string', default: '/work/shared/bench' },
      'no-shared-scripts': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      out: { type: 'string' },
      timeout: { type: 'string', default: '900' },
      keep: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const target = values.target;
  if (target !== 'facteur' && target !== 'postfix') throw new UsageError(`--target: expected facteur or postfix, got "${target}"`);
  const logLevel = values['log-level'];
  if (logLevel !== 'error' && logLevel !== 'warn' && logLevel !== 'info' && logLevel !== 'debug') {
    throw new UsageError(`--log-level: expected error, warn, info or debug, got "${logLevel}"`);
  }
  return {
    scenarios: (values.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== ''),
    quick: values.quick,
    messages: positive('--messages', values.messages),
    warmup: values.warmup === undefined ? null : whole('--warmup', values.warmup),
    pairs: positive('--pairs', values.pairs),
    sameSides: values['same-sides'],
    jsonOnly: values['json-only'],
    targets: values['compare-postfix'] ? ['postfix', 'facteur'] : [target],
    pipelining: !values['no-pipelining'],
    tlsResume: values['tls-resume'],
    tlsKey: values['tls-key'] === 'ec' ? 'ec' : 'rsa',
    workers: values.workers === 'auto' ? 'auto' : positive('--workers', values.workers) ?? 1,
    cpuProfile: values['cpu-prof'],
    sharedScripts: values['compare-postfix'] && !values['no-shared-scripts'] ? values['shared-scripts'] : null,
    logLevel,
    out: values.out ?? null,
    timeoutSeconds: positive('--timeout', values.timeout) ?? 900,
    keep: values.keep,
    list: values.list,
    help: values.help,
  };
}

function whole(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name}: expected a whole number, got "${text}"`);
  return n;
}

function positive(name: string, text: string | undefined): number | null {
  if (text === undefined) return null;
  const n = whole(name, text);
  if (n === 0) throw new UsageError(`${name}: must be at least 1`);
  return n;
}
