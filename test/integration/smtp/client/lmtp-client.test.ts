// The LMTP client against a scripted LMTP server on a Unix socket: one reply per accepted recipient, in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionLostError, RemoteReplyError } from '../../../../src/smtp/client/client-errors.js';
import { LmtpClient } from '../../../../src/smtp/client/lmtp-client.js';
import { startFakeLmtp } from '../../../helpers/lmtp-server.js';

const connect = (path: string) => LmtpClient.connect({ address: { path }, localHostname: 'mx.test', timeout: 5000 });

test('LHLO, then per-recipient replies after the dot; the text is dot-stuffed with CRLF', async (t) => {
  const server = await startFakeLmtp({
    rcpt: (to) => (to === 'nobody' ? "550 5.1.1 <nobody> User doesn't exist" : '250 2.1.5 OK'),
    final: (to) => (to === 'bob' ? '552 5.2.2 <bob> Quota exceeded' : `250 2.0.0 <${to}> Saved`),
  });
  t.after(() => server.close());
  const client = await connect(server.path);
  assert.equal(client.capabilities.pipelining, true);
  assert.equal((await client.mail('s@client.example')).code, 250);
  assert.equal((await client.rcpt('alice')).code, 250);
  assert.equal((await client.rcpt('nobody')).code, 550);
  assert.equal((await client.rcpt('bob')).code, 250);
  assert.equal(client.acceptedRecipients, 2);
  assert.equal((await client.data()).code, 354);
  await client.write(Buffer.from('Subject: x\n\n.leading dot\n'));
  await client.write(Buffer.from('.\nlast'));
  const replies = await client.finish();
  assert.deepEqual(replies.map((r) => `${r.code} ${r.enhanced}`), ['250 2.0.0', '552 5.2.2']);
  assert.equal(server.transactions[0]?.data, 'Subject: x\r\n\r\n..leading dot\r\n..\r\nlast\r\n');
  // A second transaction on the same session.
  assert.equal((await client.mail('')).code, 250);
  assert.equal((await client.rcpt('carol')).code, 250);
  assert.equal((await client.data()).code, 354);
  assert.deepEqual((await client.finish()).map((r) => r.code), [250]);
  assert.equal(server.transactions[1]?.from, '');
  await client.quit();
});

test('a connection lost among the final replies: those received are kept, then the loss is thrown', async (t) => {
  const server = await startFakeLmtp({ dropAfter: 1 });
  t.after(() => server.close());
  const client = await connect(server.path);
  await client.mail('s@client.example');
  await client.rcpt('alice');
  await client.rcpt('bob');
  await client.data();
  await client.write(Buffer.from('hi\n'));
  const got: number[] = [];
  await assert.rejects(client.finish((r) => got.push(r.code)), ConnectionLostError);
  assert.deepEqual(got, [250]);
});

test('no server on the socket: ConnectionLostError that says so', async () => {
  await assert.rejects(connect('/nonexistent/lmtp'), (err: unknown) => err instanceof ConnectionLostError && /no such socket/.test(err.message) && err.stage === 'connect');
});

test('a 421 at any step ends the session with RemoteReplyError', async (t) => {
  const server = await startFakeLmtp({ rcpt: () => '421 4.3.2 Shutting down' });
  t.after(() => server.close());
  const client = await connect(server.path);
  await client.mail('s@client.example');
  await assert.rejects(client.rcpt('alice'), (err: unknown) => err instanceof RemoteReplyError && err.reply.code === 421 && err.stage === 'rcpt');
});
