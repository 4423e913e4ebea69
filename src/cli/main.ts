#!/usr/bin/env node
// The `facteur` command: argv → subcommand; exit codes 0 success, 1 runtime failure, 2 bad usage or bad config.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { errorText } from '../observability/error-text.js';

const EXIT_USAGE = 2;
const CONFIG_HELP = 'config file (default: ./facteur.toml when it exists, else built-in defaults)';

/** Runs one command line and returns the exit code. */
async function run(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = new Command('facteur')
    .description('facteur, a mail transfer agent: an inbound MX server delivering to Maildir and an outbound relay')
    .version(packageVersion(), '-V, --version')
    // Usage errors must exit 2, not commander's 1; overriding exit also lets output be flushed before exiting.
    .exitOverride()
    .showHelpAfterError('(run "facteur --help" for usage)');

  // The modules are loaded on demand: `--help` and `check-config` must work without starting anything.
  program
    .command('start')
    .description('run the servers enabled in the config, in the foreground, until SIGTERM/SIGINT (SIGHUP reloads certificate, users and passwords)')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (opts: { config?: string }) => {
      code = await (await import('./start.js')).runStart(opts.config);
    });

  program
    .command('check-config')
    .description('validate the config and print the effective settings; on error print "FILE: key: problem" lines and exit 2')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (opts: { config?: string }) => {
      code = await (await import('./check-config.js')).runCheckConfig(opts.config);
    });

  program
    .command('passwd')
    .description('set the submission password of ADDRESS (an address of a mailbox): one line from stdin, asked without echo on a terminal')
    .argument('<address>', 'the login, an address of a mailbox')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (address: string, opts: { config?: string }) => {
      code = await (await import('./passwd.js')).runPasswd(opts.config, address);
    });

  const queue = program.command('queue').description('inspect and act on the outbound queue');
  queue
    .command('list')
    .description('one row per queued message; --json prints a JSON array')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--json', 'print JSON')
    .action(async (opts: { config?: string; json?: boolean }) => {
      code = await withConfig(opts.config, (config, q) => q.queueList(config, { json: opts.json === true }));
    });
  queue
    .command('flush')
    .description('ask the running server to retry every queued message now')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (opts: { config?: string }) => {
      code = await withConfig(opts.config, (config, q) => q.queueFlush(config));
    });
  queue
    .command('delete')
    .description('remove one message from the queue, without a bounce')
    .argument('<id>', 'the message id, as `facteur queue list` shows it')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (id: string, opts: { config?: string }) => {
      code = await withConfig(opts.config, (config, q) => q.queueDelete(config, id));
    });

  program
    .command('route')
    .description('print where mail to ADDRESS would go (mailbox and folder, alias expansion, forwards with their SRS sender) or why it would be refused, without sending; exit 0 deliverable, 1 refused')
    .argument('<address>', 'the recipient, as in RCPT TO')
    .option('--from <sender>', 'the sender, to show the SRS reverse-path a forward would get')
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (address: string, opts: { config?: string; from?: string }) => {
      code = await withConfig(opts.config, async (config) =>
        (await import('./route.js')).runRoute(config, address, opts.from === undefined ? {} : { from: opts.from }),
      );
    });

  const dkim = program.command('dkim').description('DKIM signing keys');
  dkim
    .command('keygen')
    .description('write a new private key (mode 0600) under <data_dir>/dkim/ and print the DNS TXT record to publish; never replaces a key')
    .argument('<domain>', 'the domain that signs (the d= tag)')
    .option('--selector <name>', 'the selector (default: dkim.selector, "facteur")')
    .addOption(new Option('--algorithm <algorithm>', 'key type').choices(['rsa', 'ed25519']).default('rsa'))
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (domain: string, opts: { config?: string; selector?: string; algorithm: 'rsa' | 'ed25519' }) => {
      code = await withConfig(opts.config, async (config) =>
        (await import('./dkim-commands.js')).dkimKeygen(config, domain, { algorithm: opts.algorithm, ...(opts.selector !== undefined ? { selector: opts.selector } : {}) }),
      );
    });

  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    // Commander has already printed the problem (or the help, or the version).
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    throw err;
  }
  return code;
}

type QueueCommands = typeof import('./queue-commands.js');
type Config = import('../config/config.js').Config;

/** Loads the config (problems → stderr, exit 2), then runs a queue command with it. */
async function withConfig(cliPath: string | undefined, command: (config: Config, q: QueueCommands) => Promise<number>): Promise<number> {
  const { loadConfigForCommand } = await import('./load-for-command.js');
  const config = await loadConfigForCommand(cliPath);
  if (config === null) return EXIT_USAGE;
  return command(config, await import('./queue-commands.js'));
}

/** The version in the package.json above this file (dist/src/cli/ or .build/x/src/cli/). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return String((JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version ?? 'unknown');
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Waits until what was written to a stream has been handed to the OS, so that exiting does not cut it. */
function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

let exitCode: number;
try {
  exitCode = await run(process.argv);
} catch (err) {
  process.stderr.write(`facteur: ${errorText(err)}\n`);
  exitCode = 1;
}
await Promise.all([drain(process.stdout), drain(process.stderr)]);
// Exit explicitly: a stopped server or a queue command may leave a timer or socket behind that would keep us alive.
process.exit(exitCode);
