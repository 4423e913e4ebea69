// `facteur dkim keygen DOMAIN`: a new private key under <data_dir>/dkim/, and the TXT record to publish on stdout;
// and the keys of dkim.domains as `start` and `check-config` load them (every listed domain must have one).
import type { Config } from '../config/config.js';
import { formatProblem } from '../config/config-error.js';
import { DEFAULTS_NAME } from '../config/load-config.js';
import { domainProblem } from '../mail/address.js';
import { DkimKeyError, DkimKeys, SELECTOR } from '../mailauth/dkim-keys.js';
import { generateDkimKey, KeyExistsError, type KeyAlgorithm } from '../mailauth/dkim-keygen.js';
import { EXIT_CONFIG } from './load-for-command.js';

export interface KeygenOptions {
  readonly selector?: string;
  readonly algorithm: KeyAlgorithm;
}

/**
 * Exit 0 with the record printed; 1 when a key with that selector exists (never replaced) or the file cannot be
 * written; 2 for a bad domain or selector. The domain need not have a key yet, nor even be in dkim.domains.
 */
export async function dkimKeygen(config: Config, domainArg: string, opts: KeygenOptions): Promise<number> {
  const domain = domainArg.toLowerCase().replace(/\.$/, '');
  const problem = domainProblem(domain);
  if (problem !== null) {
    process.stderr.write(`facteur dkim keygen: "${domainArg}" is not a valid domain name: it ${problem}\n`);
    return EXIT_CONFIG;
  }
  const selector = opts.selector ?? config.dkim.selector;
  if (!SELECTOR.test(selector)) {
    process.stderr.write(`facteur dkim keygen: "${selector}" is not a valid selector: use letters, digits and inner hyphens, in dot-separated labels\n`);
    return EXIT_CONFIG;
  }
  let made;
  try {
    made = await generateDkimKey(config.dkim.keyDir, domain, selector, opts.algorithm);
  } catch (err) {
    if (!(err instanceof KeyExistsError)) throw err;
    process.stderr.write(`facteur dkim keygen: ${err.message}\n`);
    return 1;
  }
  process.stdout.write(`${made.record}\n`);
  process.stderr.write(`facteur dkim keygen: wrote the ${opts.algorithm === 'rsa' ? 'RSA (2048 bits)' : 'Ed25519'} private key ${made.file}; publish the record above in DNS\n`);
  if (!config.dkim.domains.includes(domain)) {
    process.stderr.write(`facteur dkim keygen: ${domain} is not in dkim.domains: add it there for its mail to be signed\n`);
  }
  return 0;
}

/**
 * The keys of every domain in dkim.domains, or null once each problem is written as a "FILE: dkim.domains: problem"
 * line (the caller exits 2, as for any config problem). For `start` (and SIGHUP: keep the old keys on null).
 */
export async function loadDkimKeysForCommand(
  config: Config,
  err: (text: string) => void = (t) => process.stderr.write(t),
  shown: string = config.file ?? DEFAULTS_NAME,
): Promise<DkimKeys | null> {
  try {
    return await DkimKeys.load(config.dkim.keyDir, config.dkim.domains);
  } catch (e) {
    if (!(e instanceof DkimKeyError)) throw e;
    for (const problem of e.problems) err(`${formatProblem({ file: shown, key: 'dkim.domains', problem })}\n`);
    return null;
  }
}
