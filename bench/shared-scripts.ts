// The side-by-side scripts in ../shared/bench (Postfix's smtp-source as the client, a connection per message, medians
// of interleaved runs): `--compare-postfix` runs them too and reports their lines beside our own load generator's
// table, so that the README's figures and the scripts can never disagree (issue 14).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface SharedScriptResult {
  readonly script: string;
  /** The script's last two lines as it printed them: every run, then the medians and their ratio. */
  readonly lines: readonly string[];
  readonly facteurMsgsPerSec: number | null;
  readonly postfixMsgsPerSec: number | null;
  readonly ratio: number | null;
  /** Why there is no figure (not root, script missing, failed run), or null. */
  readonly problem: string | null;
}

export const SHARED_SCRIPTS = ['compare-inbound.sh', 'compare-outbound.sh'] as const;

/** "…: facteur 923.5 msg/s, Postfix 843.9 msg/s, ratio 1.09 (goal >= 2.0)" */
const SUMMARY = /facteur ([\d.]+) msg\/s, Postfix ([\d.]+) msg\/s, ratio ([\d.]+)/;

/**
 * Runs each script from the checkout (as they require) and keeps their last lines. They install and start Postfix and
 * a facteur of their own, so they need root; without it, or without the folder, each result says why.
 */
export async function runSharedScripts(dir: string, checkout: string, progress: (line: string) => void): Promise<SharedScriptResult[]> {
  const results: SharedScriptResult[] = [];
  for (const script of SHARED_SCRIPTS) {
    const path = join(dir, script);
    const none = (problem: string): SharedScriptResult => ({ script, lines: [], facteurMsgsPerSec: null, postfixMsgsPerSec: null, ratio: null, problem });
    if (!existsSync(path)) {
      results.push(none(`${path} not found (set --shared-scripts DIR)`));
      continue;
    }
    if (process.getuid?.() !== 0) {
      results.push(none('needs root (the script installs and starts Postfix)'));
      continue;
    }
    progress(`${script} (the shared side-by-side script; a few minutes)`);
    const { code, output } = await run(path, checkout);
    const lines = output.trimEnd().split('\n').slice(-2);
    const m = SUMMARY.exec(lines[lines.length - 1] ?? '');
    results.push({
      script,
      lines,
      facteurMsgsPerSec: m === null ? null : Number(m[1]),
      postfixMsgsPerSec: m === null ? null : Number(m[2]),
      ratio: m === null ? null : Number(m[3]),
      // The script exits 1 when the ratio is under its goal: that is a figure, not a failure.
      problem: m === null ? `no summary line (exit ${code})` : null,
    });
  }
  return results;
}

function run(path: string, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.on('error', (err) => resolve({ code: null, output: `${output}\n${err.message}` }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The report's section: each script's last two lines, verbatim. */
export function formatSharedScripts(results: readonly SharedScriptResult[]): string {
  const body = results.map((r) => (r.problem !== null && r.lines.length === 0 ? `${r.script}: not run: ${r.problem}` : `${r.script}:\n  ${r.lines.join('\n  ')}`));
  return `the shared side-by-side scripts (smtp-source, a connection per message, medians of interleaved runs; the ratio that counts):\n${body.join('\n')}`;
}
