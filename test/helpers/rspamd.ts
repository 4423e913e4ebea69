// Debian's rspamd, started for a test in a temporary folder: its normal worker on a loopback port, no controller,
// no proxy, no Redis, the packaged rules of /etc/rspamd with what makes it start in a second (no hyperscan, a tiny
// list of top-level domains) and a DNS server on loopback that answers NXDOMAIN to everything (no network here).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer } from './dns-server.js';

export interface Rspamd {
  /** "http://127.0.0.1:PORT", the normal worker. */
  readonly url: string;
  /** The worker's log, for a failing test's message. */
  readonly logFile: string;
  /** rspamd's main process (its workers are its children). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Markers in a Subject that the test rules below turn into rspamd's other actions. */
export const RSPAMD_MARKERS = {
  addHeader: 'facteur-test-add-header',
  rewriteSubject: 'facteur-test-rewrite-subject',
  softReject: 'facteur-test-soft-reject',
} as const;

const RSPAMD = '/usr/bin/rspamd';
const CONFDIR = '/etc/rspamd';

/**
 * Starts rspamd, or returns why it cannot (not installed): the caller skips its tests with that reason. Its DNS
 * questions go to `dnsAddress` ("127.0.0.1:PORT"), or to a server started here that answers NXDOMAIN to all.
 */
export async function startRspamd(dnsAddress?: string): Promise<Rspamd | string> {
  if (spawnSync(RSPAMD, ['--version']).status !== 0) return 'rspamd is not installed (apt-get install rspamd; .ci/run installs it)';
  const dir = await mkdtemp(join(tmpdir(), 'facteur-rspamd-'));
  const dns = dnsAddress === undefined ? await startDnsServer({}) : { address: dnsAddress, close: async () => undefined };
  const port = await freePort();
  await writeConfig(dir, port, dns.address);
  const user = runAs();
  if (user !== null) await chownTree(dir, user.uid, user.gid);
  const vars = { LOCAL_CONFDIR: dir, DBDIR: join(dir, 'db'), RUNDIR: join(dir, 'run'), LOGDIR: join(dir, 'log') };
  const args = ['-f', '-c', join(dir, 'rspamd.conf'), ...Object.entries(vars).map(([k, v]) => `--var=${k}=${v}`)];
  // rspamd refuses to run its workers as root: as root, they run as the package's unprivileged user.
  if (process.getuid?.() === 0) args.push(...(user !== null ? ['-u', user.name, '-g', user.name] : ['--insecure']));
  const child = spawn(RSPAMD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await stopChild(child, exited);
    await dns.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPong(url, child, 30_000);
  } catch (err) {
    await stop();
    throw new Error(`rspamd did not start: ${(err as Error).message}\n${stderr}`);
  }
  return { url, logFile: join(vars.LOGDIR, 'rspamd.log'), pid: child.pid ?? 0, stop };
}

async function writeConfig(dir: string, port: number, dnsAddress: string): Promise<void> {
  for (const sub of ['db', 'run', 'log', 'local.d', 'override.d']) await mkdir(join(dir, sub));
  await writeFile(
    join(dir, 'rspamd.conf'),
    `# A test rspamd: the packaged configuration of ${CONFDIR}, one normal worker on loopback.
.include "$CONFDIR/common.conf"
options {
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}
logging { type = "file"; filename = "$LOGDIR/rspamd.log"; level = "warning"; }
worker "normal" {
  bind_socket = "127.0.0.1:${port}";
  .include "$CONFDIR/worker-normal.inc"
  count = 1;
}
`,
  );
  // Options replaced, not added (a second key of the same name in UCL would be ignored): no hyperscan and a tiny list
  // of public suffixes (the real one takes rspamd 15 s to compile), DNS answered on loopback.
  await writeFile(
    join(dir, 'override.d', 'options.inc'),
    `disable_hyperscan = true;\nurl_tld = "${join(dir, 'tld.dat')}";\ndns { nameserver = ["${dnsAddress}"]; timeout = 1s; retransmits = 1; }\n`,
  );
  await writeFile(join(dir, 'tld.dat'), 'org\nnet\ncom\nexample\ntest\n');
  // Headers in every answer, for local clients too (the tests connect from 127.0.0.1).
  await writeFile(
    join(dir, 'local.d', 'milter_headers.conf'),
    'use = ["x-spamd-result", "x-rspamd-server", "x-spam-status"];\nskip_local = false;\nskip_authenticated = false;\n',
  );
  await writeFile(join(dir, 'local.d', 'actions.conf'), 'rewrite_subject = 9;\nsubject = "***SPAM*** %s";\n');
  // rspamd 3.4 has only the GTUBE that rejects: these rules give the other actions from a Subject marker.
  await writeFile(
    join(dir, 'rspamd.local.lua'),
    `local function subject_has(task, marker)
  return (task:get_subject() or ''):find(marker, 1, true) ~= nil
end
rspamd_config:register_symbol({ name = 'FACTEUR_TEST_ADD_HEADER', score = 7.0, group = 'facteur',
  callback = function(task) return subject_has(task, '${RSPAMD_MARKERS.addHeader}') end })
rspamd_config:register_symbol({ name = 'FACTEUR_TEST_REWRITE_SUBJECT', score = 10.0, group = 'facteur',
  callback = function(task) return subject_has(task, '${RSPAMD_MARKERS.rewriteSubject}') end })
rspamd_config:register_symbol({ name = 'FACTEUR_TEST_SOFT_REJECT', type = 'prefilter', priority = 10,
  callback = function(task)
    if subject_has(task, '${RSPAMD_MARKERS.softReject}') then task:set_pre_result('soft reject', 'Test deferral') end
  end })
`,
  );
}

/** The package's system user (_rspamd on Debian), when we are root and it exists. */
function runAs(): { name: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('id', ['_rspamd'], { encoding: 'utf8' });
  const uid = /uid=(\d+)/.exec(r.stdout)?.[1];
  const gid = /gid=(\d+)/.exec(r.stdout)?.[1];
  return r.status === 0 && uid !== undefined && gid !== undefined ? { name: '_rspamd', uid: Number(uid), gid: Number(gid) } : null;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

/** Asks /ping until rspamd answers "pong" (it binds its worker a moment after it starts), it exits, or the deadline. */
async function waitForPong(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`rspamd exited (${child.exitCode ?? child.signalCode})`);
    if (await pong(url)) return;
    if (Date.now() > deadline) throw new Error(`no pong from ${url} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function pong(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/ping`, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.once('end', () => resolve(res.statusCode === 200 && body.trim() === 'pong'));
      res.once('error', () => resolve(false));
    });
    req.once('error', () => resolve(false));
    req.setTimeout(2000, () => req.destroy());
  });
}

/** SIGTERM (rspamd's main process stops its workers), SIGKILL after 10 s. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
