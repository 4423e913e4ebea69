// Real mail clients log in and submit (STARTTLS and implicit TLS): swaks, msmtp, curl, Python's smtplib, nodemailer.
// Each message must reach the sink (found through the loopback DNS) exactly once. A test skips when its tool is missing.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { deliveredOnce, headerOf, LOGINS, REMOTE, startSubmissionWorld, type SubmissionWorld } from '../helpers/submission.js';

const run = promisify(execFile);

/** Whether a command runs at all (it is on PATH and works). */
async function works(program: string, args: string[]): Promise<boolean> {
  try {
    await run(program, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const hasSwaks = await works('swaks', ['--version']);
const swaksHasTls = hasSwaks && (await works('perl', ['-MNet::SSLeay', '-e1']));
const SWAKS_SKIP = !hasSwaks ? 'swaks is not on PATH (apt-get install swaks); .ci/run installs it' : !swaksHasTls ? 'swaks has no TLS here (apt-get install libnet-ssleay-perl libio-socket-ssl-perl); .ci/run installs it' : false;
const MSMTP_SKIP = (await works('msmtp', ['--version'])) ? false : 'msmtp is not on PATH (apt-get install msmtp); .ci/run installs it';
const CURL_SKIP = (await works('curl', ['--version'])) ? false : 'curl is not on PATH (apt-get install curl); .ci/run installs it';
const PYTHON_SKIP = (await works('python3', ['-c', 'import smtplib, ssl'])) ? false : 'python3 with smtplib and ssl is not on PATH (apt-get install python3); .ci/run installs it';

const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';

describe('real clients submit with a login', () => {
  let w: SubmissionWorld;
  let dir: string;
  before(async () => {
    w = await startSubmissionWorld();
    dir = await mkdtemp(join(tmpdir(), 'facteur-clients-'));
  });
  after(async () => {
    await w.close();
    await rm(dir, { recursive: true, force: true });
  });

  const port = (implicitTls: boolean) => String(w.facteur.port(implicitTls ? 'submission-tls' : 'submission'));

  /** The message reached the sink once, through a session that logged in over TLS. */
  async function landed(recipient: string, subject: string): Promise<void> {
    const header = headerOf(await deliveredOnce(w, recipient));
    assert.match(header, / with ESMTPSA id /);
    assert.match(header, new RegExp(`^Subject: ${subject}$`, 'm'));
    assert.match(header, /^Date: /m);
    assert.match(header, /^Message-ID: /im);
  }

  async function messageFile(from: string, to: string, subject: string): Promise<string> {
    const file = join(dir, `${subject}.eml`);
    await writeFile(file, `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nHello from ${subject}.\r\n`);
    return file;
  }

  for (const mechanism of ['PLAIN', 'LOGIN']) {
    for (const implicitTls of [false, true]) {
      const subject = `swaks-${mechanism.toLowerCase()}-${implicitTls ? 'tlsc' : 'starttls'}`;
      test(`swaks --auth ${mechanism} ${implicitTls ? '--tlsc' : '-tls'}`, { skip: SWAKS_SKIP }, async () => {
        const to = `${subject}@${REMOTE}`;
        const { stdout } = await run(
          'swaks',
          ['--server', '127.0.0.1', '--port', port(implicitTls), implicitTls ? '--tlsc' : '-tls', '--helo', 'client.example',
            '--auth', mechanism, '--auth-user', ALICE, '--auth-password', LOGINS[ALICE]!,
            '--from', ALICE, '--to', to, '--header', `Subject: ${subject}`, '--body', 'hello from swaks'],
          { timeout: 30_000 },
        );
        assert.match(stdout, /235 2\.7\.0/);
        await landed(to, subject);
      });
    }
  }

  for (const implicitTls of [false, true]) {
    const subject = `msmtp-${implicitTls ? 'tls' : 'starttls'}`;
    test(`msmtp with auth on, ${implicitTls ? 'implicit TLS' : 'STARTTLS'}`, { skip: MSMTP_SKIP }, async () => {
      const to = `${subject}@${REMOTE}`;
      const passwordFile = join(dir, `${subject}.pw`);
      await writeFile(passwordFile, LOGINS[BOB]!, { mode: 0o600 });
      const args = [
        '--file=/dev/null', '--host=127.0.0.1', `--port=${port(implicitTls)}`, '--domain=client.example',
        // One run lets msmtp choose (it takes PLAIN), the other asks for LOGIN.
        implicitTls ? '--auth=login' : '--auth=on', `--user=${BOB}`, `--passwordeval=cat ${passwordFile}`,
        '--tls=on', `--tls-starttls=${implicitTls ? 'off' : 'on'}`, '--tls-certcheck=off', `--from=${BOB}`, to,
      ];
      await feed('msmtp', args, `From: ${BOB}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nHello from msmtp.\r\n`);
      await landed(to, subject);
    });
  }

  for (const implicitTls of [false, true]) {
    const subject = `curl-${implicitTls ? 'smtps' : 'starttls'}`;
    test(`curl --user, ${implicitTls ? 'smtps://' : 'smtp:// --ssl-reqd'}`, { skip: CURL_SKIP }, async () => {
      const to = `${subject}@${REMOTE}`;
      const url = implicitTls ? `smtps://127.0.0.1:${port(true)}` : `smtp://127.0.0.1:${port(false)}`;
      await run(
        'curl',
        ['--silent', '--show-error', '--url', url, ...(implicitTls ? ['--login-options', 'AUTH=LOGIN'] : ['--ssl-reqd']), '--insecure',
          '--user', `${ALICE}:${LOGINS[ALICE]}`, '--mail-from', ALICE, '--mail-rcpt', to, '--upload-file', await messageFile(ALICE, to, subject)],
        { timeout: 30_000 },
      );
      await landed(to, subject);
    });
  }

  for (const implicitTls of [false, true]) {
    const subject = `python-${implicitTls ? 'smtp-ssl' : 'starttls'}`;
    test(`Python smtplib login(), ${implicitTls ? 'SMTP_SSL' : 'SMTP + starttls()'}`, { skip: PYTHON_SKIP }, async () => {
      const to = `${subject}@${REMOTE}`;
      const script = [
        'import smtplib, ssl, sys',
        'from email.message import EmailMessage',
        'port, user, password, to, subject, implicit = sys.argv[1:7]',
        'ctx = ssl.create_default_context()',
        'ctx.check_hostname = False',
        'ctx.verify_mode = ssl.CERT_NONE',
        'msg = EmailMessage()',
        'msg["From"] = user',
        'msg["To"] = to',
        'msg["Subject"] = subject',
        'msg.set_content("Hello from Python.")',
        'if implicit == "1":',
        '    s = smtplib.SMTP_SSL("127.0.0.1", int(port), local_hostname="client.example", context=ctx, timeout=20)',
        'else:',
        '    s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.example", timeout=20)',
        '    s.starttls(context=ctx)',
        's.login(user, password)',
        's.send_message(msg)',
        's.quit()',
      ].join('\n');
      // smtplib's login() encodes the password as ASCII: alice's has a colon and spaces, bob's a non-ASCII letter.
      await run('python3', ['-c', script, port(implicitTls), ALICE, LOGINS[ALICE]!, to, subject, implicitTls ? '1' : '0'], { timeout: 30_000 });
      await landed(to, subject);
    });
  }

  for (const implicitTls of [false, true]) {
    const subject = `nodemailer-${implicitTls ? 'secure' : 'requiretls'}`;
    test(`nodemailer with auth, ${implicitTls ? 'secure: true' : 'requireTLS'}`, async () => {
      const to = `${subject}@${REMOTE}`;
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: Number(port(implicitTls)),
        secure: implicitTls,
        requireTLS: !implicitTls,
        name: 'client.example',
        tls: { rejectUnauthorized: false },
        auth: { user: 'a.smith@example.org', pass: LOGINS['a.smith@example.org']! },
        ...(implicitTls ? { authMethod: 'LOGIN' } : {}),
      });
      try {
        const info = await transport.sendMail({ from: 'Alice Smith <a.smith@example.org>', to, subject, text: 'Hello from nodemailer.' });
        assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      } finally {
        transport.close();
      }
      await landed(to, subject);
    });
  }
});

/** Runs a program with `input` on its stdin; rejects with its stderr if it exits non-zero. */
function feed(program: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdout.resume();
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${program} exited with ${code}: ${stderr}`))));
    child.stdin.end(input);
  });
}
