// The SRS secrets file: one secret per line (any text; a new file gets 32 random bytes in base64), the first signs and
// all verify (to replace a secret, put the new one first); made, mode 0600, when it does not exist (first start).
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorCode } from '../fs/error-code.js';

/** Reads the secrets of `file`, making it first when it is missing. Throws with the file's name on any problem. */
export async function loadSrsSecrets(file: string): Promise<Buffer[]> {
  return (await readSrsSecrets(file)) ?? secretsOf(await create(file), file);
}

/** The secrets of `file`, or null when it does not exist. */
export async function readSrsSecrets(file: string): Promise<Buffer[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw new Error(`${file}: cannot read the SRS secrets file (${errorCode(err) ?? String(err)})`, { cause: err });
  }
  return secretsOf(text, file);
}

function secretsOf(text: string, file: string): Buffer[] {
  const secrets = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => Buffer.from(l, 'utf8'));
  if (secrets.length === 0) throw new Error(`${file}: the SRS secrets file holds no secret`);
  return secrets;
}

/** Writes a new file with one random secret; O_EXCL, so that two starting processes never overwrite each other's. */
async function create(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const text = `${randomBytes(32).toString('base64')}\n`;
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return text;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return readFile(file, 'utf8');
    throw new Error(`${file}: cannot create the SRS secrets file (${errorCode(err) ?? String(err)})`, { cause: err });
  }
}
