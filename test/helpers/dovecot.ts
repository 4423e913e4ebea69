// Debian's Dovecot (dovecot-lmtpd, dovecot-imapd, dovecot-sieve), started for a test in a temporary folder: an LMTP
// Unix socket there, users in a passwd-file, Maildirs it writes itself (LMTP) or facteur's (read through a group),
// the quota plugin (Maildir++), Sieve; IMAP reached with preauth through `doveadm exec imap`, no listener at all.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const DOVECOT = '/usr/sbin/dovecot';
const DOVEADM = '/usr/bin/doveadm';

export interface DovecotUser {
  readonly name: string;
  /** A storage limit in Dovecot's words ("10K", "1M"); none by default. */
  readonly quota?: string;
  /** A Sieve script, made the user's active one. */
  readonly sieve?: string;
}

export interface DovecotOptions {
  readonly users: readonly DovecotUser[];
  /**
   * Serve the Maildirs facteur writes, <root>/<user>, instead of ones of its own: Dovecot's indexes go elsewhere, and
   * its mail processes get `accessGroup` as a supplementary group (mail_access_groups), to read facteur's files.
   */
  readonly maildirRoot?: string;
  readonly accessGroup?: number;
  /**
   * With maildirRoot: "separate" keeps Dovecot's control files (uidlist, maildirsize) out of the Maildirs, so it can
   * read Maildirs it may not write; "maildir" (default) keeps them there, as Dovecot does by default.
   */
  readonly control?: 'separate' | 'maildir';
}

export interface Dovecot {
  /** The LMTP socket, for inbound.lmtp = "unix:<path>". */
  readonly lmtp: string;
  /** The uid and gid Dovecot's mail processes run as (who owns the Maildirs it writes). */
  readonly mailUid: number;
  readonly mailGid: number;
  /** A user's home (its Maildir, with Dovecot's own mail_location, is <home>/Maildir). */
  home(user: string): string;
  /** Dovecot's log so far (it logs to stderr), for a failing test's message. */
  log(): string;
  /** The Subject of every message of a mailbox, in order, read over IMAP (SELECT then FETCH). */
  subjects(user: string, mailbox?: string): Promise<string[]>;
  /** `doveadm quota get`: the storage used in KiB and the message count. */
  quota(user: string): Promise<{ storageKiB: number; messages: number; limitKiB: number | null }>;
  stop(): Promise<void>;
}

/** Why Dovecot cannot run here (the tests skip with it), or null. */
export function dovecotMissing(): string | null {
  if (!existsSync(DOVECOT) || !existsSync('/usr/lib/dovecot/lmtp') || !existsSync('/usr/lib/dovecot/imap')) {
    return 'Dovecot is not installed (apt-get install dovecot-lmtpd dovecot-imapd dovecot-sieve; .ci/run installs them)';
  }
  if (!existsSync('/usr/lib/dovecot/modules/lib90_sieve_plugin.so')) return 'dovecot-sieve is not installed';
  return null;
}

/** Starts Dovecot in a fresh folder; resolves once its LMTP socket exists. */
export async function startDovecot(opts: DovecotOptions): Promise<Dovecot> {
  const dir = await mkdtemp(join(tmpdir(), 'facteur-dovecot-'));
  await chmod(dir, 0o755);
  const root = process.getuid?.() === 0;
  // As root, Dovecot's own processes run as its package users and the mail as nobody; otherwise all run as us.
  const me = userInfo();
  const mail = root ? { uid: 65534, gid: 65534 } : { uid: me.uid, gid: me.gid };
  const internal = root ? (exists('dovecot') ? 'dovecot' : 'nobody') : me.username;
  const login = root ? (exists('dovenull') ? 'dovenull' : 'nobody') : me.username;
  const home = (u: string) => join(dir, 'home', u);
  for (const u of opts.users) {
    await mkdir(home(u.name), { recursive: true });
    if (u.sieve !== undefined) await writeFile(join(home(u.name), '.dovecot.sieve'), u.sieve);
    if (root) await chownTree(home(u.name), mail.uid, mail.gid);
  }
  await mkdir(join(dir, 'run'));
  await mkdir(join(dir, 'index'));
  if (root) await chown(join(dir, 'index'), mail.uid, mail.gid);
  const passwd = opts.users.map((u) => `${u.name}:{PLAIN}secret:${mail.uid}:${mail.gid}::${home(u.name)}::${u.quota === undefined ? '' : `userdb_quota_rule=*:storage=${u.quota}`}\n`).join('');
  await writeFile(join(dir, 'passwd'), passwd);
  const location =
    opts.maildirRoot === undefined
      ? 'maildir:~/Maildir'
      : `maildir:${opts.maildirRoot}/%u:INDEX=${join(dir, 'index')}/%u${opts.control === 'separate' ? `:CONTROL=${join(dir, 'index')}/%u/control` : ''}`;
  const conf = join(dir, 'dovecot.conf');
  await writeFile(conf, config({ dir, internal, internalGroup: root && exists('dovecot') ? 'dovecot' : groupOf(internal), login, location, accessGroup: opts.accessGroup }));

  const child = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (log += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lmtp = join(dir, 'run', 'lmtp');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForFile(lmtp, exited, 20_000);
  } catch (err) {
    await stop();
    throw new Error(`Dovecot did not start: ${(err as Error).message}\n${log}`);
  }

  // The imap binary wants a pipe on stdin (Node's are socket pairs, which it cannot poll as it expects) and, as root,
  // no socket on stdout (it would take it for inetd): sh makes the pipe, and the output goes to a file.
  let calls = 0;
  /** What the last doveadm command said on stderr (the imap process logs its errors there). */
  let lastErrors = '';
  const doveadm = async (args: string[], input = ''): Promise<string> => {
    const n = ++calls;
    const inFile = join(dir, `in-${n}`);
    const outFile = join(dir, `out-${n}`);
    await writeFile(inFile, input);
    const script = 'in=$1 prog=$2 conf=$3 out=$4; shift 4; cat "$in" | "$prog" -c "$conf" "$@" > "$out"';
    const p = spawn('/bin/sh', ['-c', script, 'sh', inFile, DOVEADM, conf, outFile, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 20_000,
    });
    let err = '';
    p.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
    const code = await new Promise<number | null>((resolve) => p.once('close', resolve));
    const out = await readFile(outFile, 'utf8').catch(() => '');
    if (code !== 0) throw new Error(`doveadm ${args.join(' ')} exited ${code}: ${err}\n${out}\n${log}`);
    lastErrors = err;
    return out;
  };
  return {
    lmtp,
    mailUid: mail.uid,
    mailGid: mail.gid,
    home,
    log: () => log,
    async subjects(user, mailbox = 'INBOX') {
      const out = await doveadm(['exec', 'imap', '-u', user], `a SELECT "${mailbox}"\r\nb FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nc LOGOUT\r\n`);
      if (!/^a OK/m.test(out)) throw new Error(`IMAP SELECT ${mailbox} failed for ${user}:\n${out}\n${lastErrors}\n${log}`);
      return [...out.matchAll(/^Subject: (.*?)\r?$/gm)].map((m) => m[1] as string);
    },
    async quota(user) {
      const out = await doveadm(['-f', 'flow', 'quota', 'get', '-u', user]);
      const storage = /Type=STORAGE Value=(\d+) Limit=(\S+)/.exec(out);
      const messages = /Type=MESSAGE Value=(\d+)/.exec(out);
      if (storage === null || messages === null) throw new Error(`unexpected doveadm quota output: ${out}`);
      return { storageKiB: Number(storage[1]), messages: Number(messages[1]), limitKiB: /^\d+$/.test(storage[2] as string) ? Number(storage[2]) : null };
    },
    stop,
  };
}

function config(c: { dir: string; internal: string; internalGroup: string; login: string; location: string; accessGroup: number | undefined }): string {
  return `# A test Dovecot: LMTP on a Unix socket in ${c.dir}/run, no network listener at all.
base_dir = ${c.dir}/run
state_dir = ${c.dir}/state
instance_name = facteur-test-${process.pid}
log_path = /dev/stderr
protocols = lmtp imap
listen = 127.0.0.1
ssl = no
default_internal_user = ${c.internal}
default_internal_group = ${c.internalGroup}
default_login_user = ${c.login}
# "u@bench.test" and "u" are the same user (Postfix gives addresses, facteur mailbox names).
auth_username_format = %Ln
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = ${c.dir}/passwd
}
userdb {
  driver = passwd-file
  args = ${c.dir}/passwd
}
mail_location = ${c.location}
${c.accessGroup === undefined ? '' : `mail_access_groups = ${c.accessGroup}\n`}mail_plugins = quota
lmtp_rcpt_check_quota = yes
lda_mailbox_autocreate = yes
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
plugin {
  quota = maildir:User quota
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
`;
}

function exists(user: string): boolean {
  return spawnSync('id', ['-u', user]).status === 0;
}

function groupOf(user: string): string {
  const r = spawnSync('id', ['-gn', user], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : user;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

/** Resolves when `path` appears (watching its folder), rejects if Dovecot exits first or after timeoutMs. */
function waitForFile(path: string, exited: Promise<void>, timeoutMs: number): Promise<void> {
  const folder = join(path, '..');
  return new Promise((resolve, reject) => {
    const watcher = watch(folder, () => check());
    const timer = setTimeout(() => done(new Error(`${path} did not appear within ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error): void => {
      watcher.close();
      clearTimeout(timer);
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = (): void => {
      if (existsSync(path)) done();
    };
    void exited.then(() => done(new Error('dovecot exited')));
    check();
  });
}

