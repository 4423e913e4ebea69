// The systemd units in examples/ start what the package ships, the way `npm start` does, and say what facteur does.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../helpers/facteur.js';

/** "Key=value" lines by section; repeated keys keep every value. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current !== null && eq > 0, `not a unit file line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const root = repoRoot();
const INSTALLED_AT = '/opt/facteur/'; // where the units expect the checkout (README, "Running it for real")
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };

for (const name of ['facteur.service', 'facteur-activated.service']) {
  test(`examples/${name}: Type=notify, ExecStart is the package's own entry (as npm start), reload is SIGHUP`, () => {
    const unit = parseUnit(readFileSync(join(root, 'examples', name), 'utf8'));
    const service = unit.get('Service')!;
    assert.deepEqual(service.get('Type'), ['notify']);
    assert.deepEqual(service.get('NotifyAccess'), ['main']);
    const [node, script, ...args] = service.get('ExecStart')![0]!.split(/\s+/);
    assert.equal(node, '/usr/bin/node');
    assert.ok(script!.startsWith(INSTALLED_AT), script);
    const inPackage = script!.slice(INSTALLED_AT.length);
    assert.ok(existsSync(join(root, inPackage)), `${inPackage} is not in the package`);
    assert.equal(inPackage, pkg.bin.facteur!.replace(/^\.\//, ''), 'the same entry as the facteur command');
    assert.match(pkg.scripts.start!, new RegExp(`${inPackage.replace('.', '\\.')} start`), 'the same entry as npm start');
    assert.deepEqual(args.slice(0, 2), ['start', '-c']);
    assert.deepEqual(service.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    assert.deepEqual(service.get('NoNewPrivileges'), ['true']);
    assert.deepEqual(service.get('ProtectSystem'), ['strict']);
    assert.ok(Number(service.get('TimeoutStopSec')![0]) > 10, 'longer than the 10 s grace given to sessions');
  });
}

test('examples/facteur-activated.service has no capability; facteur.socket hands it its ports', () => {
  const service = parseUnit(readFileSync(join(root, 'examples', 'facteur-activated.service'), 'utf8'));
  assert.equal(service.get('Service')!.get('AmbientCapabilities'), undefined);
  assert.deepEqual(service.get('Service')!.get('CapabilityBoundingSet'), ['']);
  const socket = parseUnit(readFileSync(join(root, 'examples', 'facteur.socket'), 'utf8')).get('Socket')!;
  assert.deepEqual(socket.get('Service'), ['facteur-activated.service']);
  assert.deepEqual(socket.get('ListenStream'), ['[::]:25', '[::]:465']);
});
