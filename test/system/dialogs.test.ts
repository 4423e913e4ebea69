// Replays every transcript of test/system/dialogs/*.smtp over a real socket against one running facteur.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot, startFacteur, type Facteur } from '../helpers/facteur.js';
import { runTranscript, SmtpDialog } from '../helpers/smtp-dialog.js';

// The transcripts are sources, not build output: read them from the checkout.
const dir = join(repoRoot(), 'test', 'system', 'dialogs');
const files = readdirSync(dir).filter((f) => f.endsWith('.smtp')).sort();

describe('SMTP dialogs (test/system/dialogs/*.smtp)', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur({
      users: {
        alice: ['alice@example.org', 'a.smith@example.org'],
        bob: ['bob@example.org'],
        postmaster: ['postmaster@example.org'],
      },
      // Small limits, so that transcripts can cross them in a few lines.
      toml: '[inbound]\nmax_recipients = 3\nmax_message_size = "4KB"\n',
    });
  });
  after(() => facteur.stop());

  test('there are transcripts to play', () => {
    if (files.length === 0) throw new Error(`no .smtp file in ${dir}`);
  });

  for (const file of files) {
    test(file.replace(/\.smtp$/, ''), async (t) => {
      const dialog = await SmtpDialog.connect(facteur.port('plain'));
      t.after(() => dialog.close());
      await runTranscript(dialog, readFileSync(join(dir, file), 'utf8'), file);
    });
  }
});
