// The Authentication-Results field: layout, and values from the client made safe.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAuthenticationResults } from '../../../src/mailauth/authentication-results.js';

test('one result per line, authserv-id first, LF line endings', () => {
  const field = formatAuthenticationResults('mx.example.org', [
    { method: 'spf', result: 'pass', comment: 'mx.example.org: domain of a@b.example designates 192.0.2.1 as permitted sender', properties: [['smtp.mailfrom', 'a@b.example']] },
    { method: 'dkim', result: 'pass', properties: [['header.d', 'b.example'], ['header.s', 'sel'], ['header.a', 'rsa-sha256'], ['header.b', 'ab/cd+ef']] },
    { method: 'dmarc', result: 'pass', properties: [['header.from', 'b.example']] },
    { method: 'arc', result: 'none' },
  ]);
  assert.equal(
    field,
    'Authentication-Results: mx.example.org;\n' +
      ' spf=pass (mx.example.org: domain of a@b.example designates 192.0.2.1 as permitted sender) smtp.mailfrom=a@b.example;\n' +
      ' dkim=pass header.d=b.example header.s=sel header.a=rsa-sha256 header.b="ab/cd+ef";\n' +
      ' dmarc=pass header.from=b.example;\n' +
      ' arc=none\n',
  );
});

test('no result at all is "none" (RFC 8601 §2.2)', () => {
  assert.equal(formatAuthenticationResults('mx.example.org', []), 'Authentication-Results: mx.example.org; none\n');
});

test('client text cannot break out: CR/LF removed, comments escaped, odd values quoted', () => {
  const field = formatAuthenticationResults('mx.example.org', [
    { method: 'spf', result: 'pass\r\nX-Injected: yes', comment: 'a (b) \\ c\r\nX-Evil: 1', properties: [['smtp.helo', 'evil;\r\nX-Other: 2'], ['smtp.mailfrom', '"odd local"@b.example']] },
  ]);
  assert.equal(field.split('\n').length, 3, 'the field and its one continuation line, then the final LF');
  assert.ok(field.includes('(a \\(b\\) \\\\ c X-Evil: 1)'));
  assert.ok(field.includes('smtp.helo="evil; X-Other: 2"'));
  assert.ok(field.includes('smtp.mailfrom="\\"odd local\\"@b.example"'));
  assert.ok(field.includes('spf=passX-Injectedyes'));
});
