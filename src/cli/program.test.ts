import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { COMMAND_MODULES, buildProgram, commandOf } from './program.js';

test('commandOf: the first word that is not an option or the value of a global one', () => {
  const argv = (...a: string[]): string[] => ['node', 'main.js', ...a];
  assert.equal(commandOf(argv('backup', '.')), 'backup');
  assert.equal(commandOf(argv('--repo', 'r', '-q', 'pg', 'archive-push', 'x')), 'pg');
  assert.equal(commandOf(argv('-c', 'f.yaml', '--log-file', 'none', '--json', 'status')), 'status');
  assert.equal(commandOf(argv('--repo=r', 'check')), 'check');
  assert.equal(commandOf(argv('--help')), undefined);
  assert.equal(commandOf(argv('-r', 'backup')), undefined, '"backup" is the repository here');
});

test('each module of commands defines exactly the top-level commands the table says', async () => {
  const seen: string[] = [];
  for (const m of COMMAND_MODULES) {
    const program = new Command();
    for (const register of await m.load()) register(program, () => { throw new Error('not run'); });
    assert.deepEqual(program.commands.map((c) => c.name()), [...m.commands]);
    seen.push(...m.commands);
  }
  assert.equal(new Set(seen).size, seen.length, 'no command in two modules');
});

test('a run builds only its command; help and unknown words get them all', async () => {
  assert.deepEqual((await buildProgram(['node', 'main.js', '--json', 'snapshots'])).commands.map((c) => c.name()), ['snapshots', 'ls', 'diff', 'stats']);
  const rollback = (await buildProgram(['node', 'main.js', 'rollback', 'data'])).commands.find((c) => c.name() === 'rollback')!;
  assert.deepEqual(rollback.commands.map((c) => c.name()).sort(), ['attack', 'data', 'deploy']);
  const all = (await buildProgram(['node', 'main.js', 'help'])).commands.map((c) => c.name());
  assert.deepEqual(all, COMMAND_MODULES.flatMap((m) => m.commands));
  assert.deepEqual((await buildProgram(['node', 'main.js', 'nonsense'])).commands.length, all.length);
});
