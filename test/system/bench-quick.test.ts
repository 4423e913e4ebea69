// `npm run bench -- --quick` on a few scenarios: every message counted where it belongs, and the JSON's shape (never timings).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The compiled bench entry, next to this compiled test: <out>/test/system/ → <out>/bench/run.js. */
const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));
const SCENARIOS = [
  'inbound-4k-s8-one',
  'inbound-100k-s1-many',
  'defences-4k-s32-one',
  'outbound-4k-s8-one',
  'submission-4k-s8-one',
  'mailauth-inbound-4k-s8-one',
  'mailauth-relay-4k-s8-one',
  'idle-1000',
  'big-100m',
  'queue-100000',
];

interface Result {
  id: string;
  kind: string;
  target: string;
  ok: boolean;
  problems: string[];
  method: string;
  params: Record<string, unknown>;
  figures: Record<string, number | null>;
  errors: Record<string, number>;
}
interface Doc {
  suite: string;
  version: number;
  date: string;
  command: string;
  machine: { cpus: number; node: string };
  results: Result[];
  comparison: unknown[];
}

describe('npm run bench -- --quick', { timeout: 55_000 }, () => {
  let out: string;
  let doc: Doc;
  let exitCode: number | null;
  let stderr = '';

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'facteur-bench-test-'));
    const child = spawn(process.execPath, [RUN, '--quick', '--workers', '1', '--json-only', '--out', out, '--scenario', SCENARIOS.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGINT'), 50_000); // the bench stops its servers on SIGINT
    exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    clearTimeout(timer);
    doc = JSON.parse(stdout) as Doc;
  });

  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  const result = (id: string): Result => {
    const r = doc.results.find((x) => x.id === id);
    assert.ok(r, `no result for ${id}`);
    return r;
  };

  it('runs every selected scenario on facteur, all ok, exit code 0', () => {
    assert.deepEqual(
      doc.results.map((r) => `${r.id}/${r.target}`),
      SCENARIOS.map((id) => `${id}/facteur`).sort((a, b) => order(a) - order(b)),
    );
    for (const r of doc.results) assert.deepEqual(r.problems, [], `${r.id}: ${r.problems.join('; ')}\n${stderr}`);
    assert.ok(doc.results.every((r) => r.ok));
    assert.equal(exitCode, 0, stderr);
  });

  it('writes the same document under --out', async () => {
    const files = (await readdir(out)).filter((f) => /^bench-.*\.json$/.test(f));
    assert.equal(files.length, 1);
    assert.deepEqual(JSON.parse(await readFile(join(out, files[0]!), 'utf8')), doc);
  });

  it('has the document shape: suite, machine, options, results, comparison', () => {
    assert.equal(doc.suite, 'facteur-bench');
    assert.equal(doc.version, 1);
    assert.ok(!Number.isNaN(Date.parse(doc.date)));
    assert.match(doc.command, /--quick/);
    assert.ok(doc.machine.cpus >= 1);
    assert.equal(doc.machine.node, process.version);
    assert.deepEqual(doc.comparison, []);
    for (const r of doc.results) {
      assert.equal(typeof r.method, 'string');
      assert.ok(r.method.length > 0, `${r.id} states its method`);
      for (const [k, v] of Object.entries(r.figures)) assert.ok(v === null || typeof v === 'number', `${r.id}.${k}`);
    }
  });

  it('inbound: every message accepted once and a file in new/; every figure present', () => {
    for (const id of ['inbound-4k-s8-one', 'inbound-100k-s1-many']) {
      const r = result(id);
      const n = r.params.messages as number;
      assert.ok(n > 0);
      assert.equal(r.figures.accepted, n);
      assert.equal(r.figures.durable, n);
      assert.equal(r.figures.failed, 0);
      for (const k of ['wallSeconds', 'msgsPerSec', 'mbPerSec', 'latencyP50Ms', 'latencyP99Ms', 'serverCpuMsPerMsg', 'peakRssMb']) {
        assert.equal(typeof r.figures[k], 'number', `${id}.${k}`);
      }
    }
    assert.equal(result('inbound-4k-s8-one').params.sessions, 8);
    assert.equal(result('inbound-4k-s8-one').params.perConnection, 'one');
    assert.equal(result('inbound-4k-s8-one').figures.connections, result('inbound-4k-s8-one').params.messages);
    assert.equal(result('inbound-100k-s1-many').figures.connections, 1);
  });

  it('defences: both sides served every message, the DNSBL was asked, a ratio is given', () => {
    const r = result('defences-4k-s32-one');
    assert.equal(r.figures.accepted, r.params.messages);
    for (const k of ['msgsPerSec', 'offMsgsPerSec', 'onOffRatio', 'serverCpuMsPerMsg', 'offServerCpuMsPerMsg']) assert.equal(typeof r.figures[k], 'number', k);
  });

  it('outbound and submission: every submitted message reached the sink and left the queue', () => {
    for (const id of ['outbound-4k-s8-one', 'submission-4k-s8-one']) {
      const r = result(id);
      const n = r.params.messages as number;
      assert.equal(r.figures.accepted, n, id);
      assert.equal(r.figures.delivered, n, id);
      assert.equal(r.figures.queueLeft, 0, id);
      assert.ok((r.figures.remoteConnections ?? 0) >= 1, 'the sink counted the relay’s connections');
    }
    assert.equal(typeof result('submission-4k-s8-one').figures.hashCheckMs, 'number');
  });

  it('mail authentication: servers off and on in alternation, checked messages stored with their results (the scenario reads them all), relayed ones signed', () => {
    const inbound = result('mailauth-inbound-4k-s8-one');
    assert.equal(inbound.figures.accepted, inbound.params.messages);
    assert.ok((inbound.figures.dnsQueries ?? 0) >= 1, 'the DNS stub was asked');
    assert.match(inbound.method, /inbound\.verify off and on/);
    const relay = result('mailauth-relay-4k-s8-one');
    assert.equal(relay.figures.accepted, relay.params.messages);
    assert.ok((relay.figures.addedOctetsPerMsg ?? 0) > 250, 'a DKIM-Signature on each message');
    for (const r of [inbound, relay]) {
      for (const k of ['msgsPerSec', 'offMsgsPerSec', 'onOffRatio', 'targetRatio', 'serverCpuMsPerMsg', 'offServerCpuMsPerMsg']) assert.equal(typeof r.figures[k], 'number', `${r.id}.${k}`);
    }
    assert.equal(typeof relay.figures.ed25519OffRatio, 'number');
  });

  it('idle: every connection held, the probes served', () => {
    const r = result('idle-1000');
    assert.equal(r.figures.held, r.params.connections);
    assert.equal(r.figures.refused, 0);
    assert.equal(typeof r.figures.rssHeldMb, 'number');
    assert.equal(typeof r.figures.newSessionP99Ms, 'number');
  });

  it('big message: accepted and durable, RSS growth measured', () => {
    const r = result('big-100m');
    assert.equal(r.figures.durable, 1);
    assert.equal(typeof r.figures.rssGrowthMb, 'number');
  });

  it('queue: every item still queued after the start, none moved aside', () => {
    const r = result('queue-100000');
    assert.equal(r.figures.itemsAfterStart, r.params.items);
    assert.equal(typeof r.figures.readySeconds, 'number');
  });
});

/** Results come in catalogue order: inbound, idle, big, outbound, submission, mail authentication, queue. */
function order(key: string): number {
  const kinds = ['inbound-4k', 'inbound-100k', 'defences', 'idle', 'big', 'outbound', 'submission', 'mailauth-inbound', 'mailauth-relay', 'queue'];
  return kinds.findIndex((k) => key.startsWith(k));
}
