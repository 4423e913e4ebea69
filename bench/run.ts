// `npm run bench`: runs the selected scenarios against facteur (and Postfix), prints the tables, saves the JSON.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'selfsigned';
import { BenchContext } from './context.js';
import { BENCH_HOSTNAME, CLI_PATH } from './facteur-process.js';
import { parseOptions, UsageError, USAGE, type BenchOptions } from './options.js';
import { formatReport, makeDocument, saveDocument } from './report.js';
import type { ScenarioResult } from './result.js';
import { catalogue, select } from './scenarios/catalogue.js';
import { failedResult } from './scenarios/scenario.js';
import { runSharedScripts, type SharedScriptResult } from './shared-scripts.js';

/** The checkout: the nearest folder above the compiled file whose package.json is facteur's. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'facteur') return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const all = catalogue();
  if (options.list) {
    process.stdout.write(`${all.map((s) => `${s.id}${s.postfix ? '  (facteur, postfix)' : ''}`).join('\n')}\n`);
    return 0;
  }
  let scenarios;
  try {
    scenarios = select(all, options.scenarios);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (!existsSync(CLI_PATH)) {
    process.stderr.write(`bench: ${CLI_PATH} is missing: build first (npm run build)\n`);
    return 1;
  }

  const repoRoot = findRepoRoot();
  const resultsDir = options.out ?? join(repoRoot, 'bench', 'results');
  const workDir = await mkdtemp(join(tmpdir(), 'facteur-bench-'));
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const pems = await generate(
    [{ name: 'commonName', value: BENCH_HOSTNAME }],
    options.tlsKey === 'ec' ? { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' } : { keySize: 2048, algorithm: 'sha256' },
  );
  const tls = { cert: join(workDir, 'cert.pem'), key: join(workDir, 'key.pem') };
  await writeFile(tls.cert, pems.cert);
  await writeFile(tls.key, pems.private, { mode: 0o600 });
  const ctx = new BenchContext(options, workDir, resultsDir, repoRoot, tls, progress);

  // Ctrl-C or a kill: never leave a server or a sink behind.
  const interrupted = (signal: NodeJS.Signals) => {
    ctx.killAll();
    if (!options.keep) void rm(workDir, { recursive: true, force: true }).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    else process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const started = new Date();
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of scenarios) {
      for (const target of options.targets) {
        if (target === 'postfix' && !scenario.postfix) {
          if (options.targets.length === 1) progress(`${scenario.id}: skipped, it measures facteur only`);
          continue;
        }
        progress(`${scenario.id} (${target})`);
        let result: ScenarioResult;
        try {
          result = await scenario.run(ctx, target);
        } catch (err) {
          result = failedResult(scenario, target, (err as Error).stack ?? String(err));
        }
        if (!result.ok) progress(`  FAILED: ${result.problems.join('; ')}`);
        results.push(result);
      }
    }
  } finally {
    await ctx.closeShared().catch((err: Error) => progress(`stopping the shared server: ${err.message}`));
    ctx.killAll();
    if (!options.keep) await rm(workDir, { recursive: true, force: true });
    else progress(`kept ${workDir}`);
  }

  // After our own servers are stopped: the scripts start Postfix and a facteur of their own.
  const shared: SharedScriptResult[] = options.sharedScripts === null ? [] : await runSharedScripts(options.sharedScripts, repoRoot, progress);
  const doc = makeDocument(options, results, started, shared);
  const file = await saveDocument(doc, resultsDir);
  if (options.jsonOnly) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else process.stdout.write(`${formatReport(doc)}\n\nsaved ${file}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
