// `facteur passwd`: sets the submission password of an address, read from stdin (no echo on a terminal), as a scrypt hash.
import type { Readable } from 'node:stream';
import type { ReadStream } from 'node:tty';
import { Mailboxes } from '../inbound/mailboxes.js';
import { hashPassword } from '../submission/password-hash.js';
import { storePassword, PasswordsFileError } from '../submission/passwords-file.js';
import { EXIT_CONFIG, loadConfigForCommand } from './load-for-command.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
/** A password longer than this is a mistake (a file piped in by accident), not a password. */
const MAX_PASSWORD = 1024;

export interface PasswdIo {
  readonly stdin: Readable;
  out(text: string): void;
  err(text: string): void;
}

const processIo: PasswdIo = {
  stdin: process.stdin,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export async function runPasswd(cliPath: string | undefined, address: string, io: PasswdIo = processIo): Promise<number> {
  const config = await loadConfigForCommand(cliPath);
  if (config === null) return EXIT_CONFIG;
  let mailboxes: Mailboxes;
  try {
    mailboxes = await Mailboxes.load(config.inbound);
  } catch (err) {
    io.err(`facteur passwd: ${(err as Error).message}\n`);
    return EXIT_CONFIG;
  }
  const at = address.lastIndexOf('@');
  const login = at > 0 ? `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}` : address;
  if (at <= 0 || mailboxes.lookup({ local: address.slice(0, at), domain: address.slice(at + 1) }) === null) {
    io.err(`facteur passwd: ${address} is not an address of any mailbox (inbound.users or inbound.users_file)\n`);
    return EXIT_CONFIG;
  }

  let password: string;
  try {
    password = await readPassword(io, login);
  } catch (err) {
    io.err(`facteur passwd: ${(err as Error).message}\n`);
    return EXIT_CONFIG;
  }

  const file = config.submission.passwordsFile;
  try {
    await storePassword(file, login, await hashPassword(password));
  } catch (err) {
    const why = err instanceof PasswordsFileError ? err.message : `cannot write ${file}: ${(err as Error).message}`;
    io.err(`facteur passwd: ${why}\n`);
    return EXIT_FAILURE;
  }
  io.out(`password set for ${login} in ${file}\n`);
  // The running server reads the file at start and on SIGHUP only.
  io.out(config.submission.enabled ? 'a running facteur uses it after SIGHUP (or a restart)\n' : 'note: submission is not enabled in this config ([submission] enabled = true)\n');
  return EXIT_OK;
}

/** One line from stdin; on a terminal, asked twice without echo. */
async function readPassword(io: PasswdIo, login: string): Promise<string> {
  const tty = io.stdin as Partial<ReadStream>;
  let password: string;
  if (tty.isTTY === true && typeof tty.setRawMode === 'function') {
    password = await readHidden(io, tty as ReadStream, `New password for ${login}: `);
    if (password !== '' && (await readHidden(io, tty as ReadStream, 'Again: ')) !== password) throw new Error('the two passwords differ; nothing changed');
  } else {
    password = await readLine(io.stdin);
  }
  if (password === '') throw new Error('empty password; nothing changed');
  if (password.length > MAX_PASSWORD) throw new Error(`password longer than ${MAX_PASSWORD} characters; nothing changed`);
  return password;
}

/** The first line of a stream (without its CR LF), or all of it if it has no line end. */
async function readLine(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const lf = text.indexOf('\n');
    if (lf >= 0) return text.slice(0, lf).replace(/\r$/, '');
    if (text.length > MAX_PASSWORD + 2) break;
  }
  return text.replace(/\r$/, '');
}

/** Reads a line from a terminal in raw mode, echoing nothing; Ctrl-C and Ctrl-D give up. */
function readHidden(io: PasswdIo, tty: ReadStream, prompt: string): Promise<string> {
  io.err(prompt);
  tty.setRawMode(true);
  tty.setEncoding('utf8');
  tty.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err: Error | null): void => {
      tty.off('data', onData);
      tty.setRawMode(false);
      tty.pause();
      io.err('\n');
      if (err === null) resolve(value);
      else reject(err);
    };
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new Error('interrupted; nothing changed'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    tty.on('data', onData);
  });
}
