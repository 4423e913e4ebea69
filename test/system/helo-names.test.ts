// Trace headers carry printable text only: HELO/EHLO names with controls, invisible or bidirectional characters
// are refused (501 5.5.2), so nothing of them reaches the Received header of a stored message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFacteur } from '../helpers/facteur.js';
import { readMail, splitMessage } from '../helpers/maildir.js';

const HOSTILE: readonly [string, string][] = [
  ['U+0085 NEL (a line break to some parsers), then a header', 'a\u0085Bcc: victim@example.org'],
  ['a C1 control (U+0090)', 'a\u0090b.example'],
  ['DEL', 'a\u007fb.example'],
  ['U+2028 LINE SEPARATOR', 'a\u2028b.example'],
  ['U+2029 PARAGRAPH SEPARATOR', 'a\u2029b.example'],
  ['U+202E RIGHT-TO-LEFT OVERRIDE', 'elpmaxe\u202E.com'],
  ['U+2066 LEFT-TO-RIGHT ISOLATE', 'a\u2066b.example'],
  ['U+200B ZERO WIDTH SPACE', 'pay\u200Bpal.example'],
  ['U+00A0 NO-BREAK SPACE', 'a\u00A0b.example'],
  ['a comment delimiter', 'a(b).example'],
];

test('HELO and EHLO names with control, format or separator characters get 501 5.5.2; a clean UTF-8 name is stored as given', async (t) => {
  const facteur = await startFacteur();
  t.after(() => facteur.stop());
  for (const [what, name] of HOSTILE) {
    const d = await facteur.connect();
    await d.expect(220);
    for (const verb of ['EHLO', 'HELO']) {
      const r = await d.ask(`${verb} ${name}`);
      assert.equal(`${r.code} ${r.enhanced}`, '501 5.5.2', `${verb} with ${what}: ${JSON.stringify(r.lines)}`);
    }
    // The session is still ungreeted: a refused name is not recorded.
    assert.equal((await d.ask('MAIL FROM:<s@client.example>')).code, 503, what);
    d.close();
  }

  const d = await facteur.connect();
  await d.expect(220);
  assert.equal((await d.ask('EHLO bücher.example')).code, 250);
  await d.ask('MAIL FROM:<s@client.example> SMTPUTF8');
  await d.ask('RCPT TO:<alice@example.org>');
  await d.command('DATA');
  await d.expect(354);
  await d.send('Subject: clean\r\n\r\nhello\r\n.\r\n');
  await d.expect(250, '2.0.0');
  const [stored] = await readMail(facteur.maildirRoot, 'alice');
  const { header } = splitMessage(stored!.content);
  assert.match(header, /^Received: from bücher\.example \(\[127\.0\.0\.1\]\)$/m);
  // Every character of the stored trace header is printable (but for spaces, the folding tabs and the line ends).
  assert.doesNotMatch(header.replace(/[ \t\n]/g, ''), /[\p{C}\p{Z}]/u);
});
