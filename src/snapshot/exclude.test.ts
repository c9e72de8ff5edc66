import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { UserError } from '../util/errors.js';
import { makeExcluder, readExcludeFile } from './exclude.js';

/** The paths of `all` that a backup keeps: like the archiver, an excluded folder is not entered. */
function kept(patterns: readonly string[], all: readonly string[]): string[] {
  const ex = makeExcluder(patterns);
  return all.filter((p) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) if (ex(`/${parts.slice(0, i).join('/')}`)) return false;
    return true;
  });
}

const TREE = [
  '/srv',
  '/srv/app',
  '/srv/app/main.ts',
  '/srv/app/debug.log',
  '/srv/app/.env',
  '/srv/app/node_modules',
  '/srv/app/node_modules/x',
  '/srv/app/node_modules/x/index.js',
  '/srv/app/cache',
  '/srv/app/cache/blob',
  '/srv/logs',
  '/srv/logs/a.log',
  '/srv/logs/keep.log',
  '/srv/logs/old',
  '/srv/logs/old/b.log',
  '/home/u/cache/c',
];

describe('makeExcluder (restic semantics)', () => {
  it('excludes nothing without patterns, or with only comments and blank lines', () => {
    for (const pats of [[], [''], ['   ', '# *.log', '#', '\t']]) {
      const ex = makeExcluder(pats);
      for (const p of TREE) assert.equal(ex(p), false, `${JSON.stringify(pats)} ${p}`);
    }
  });

  it('matches a pattern without a slash against the name, at any depth', () => {
    const ex = makeExcluder(['*.log']);
    assert.equal(ex('/srv/app/debug.log'), true);
    assert.equal(ex('/srv/logs/old/b.log'), true);
    assert.equal(ex('/x.log'), true);
    assert.equal(ex('/srv/app/main.ts'), false);
    assert.equal(ex('/srv/app.log/main.ts'), false, 'only the name of the path itself (its parents are checked as the walk enters them)');
    assert.equal(makeExcluder(['debug.log'])('/srv/app/debug.log'), true);
    assert.equal(makeExcluder(['debug.log'])('/srv/app/xdebug.log'), false);
    assert.equal(makeExcluder(['*.LOG'])('/srv/app/debug.log'), false, 'case-sensitive');
  });

  it('supports *, ? and [...] in names, and matches dot files', () => {
    assert.equal(makeExcluder(['tmp*'])('/a/tmp123'), true);
    assert.equal(makeExcluder(['tmp*'])('/a/xtmp'), false);
    assert.equal(makeExcluder(['?.txt'])('/a/b.txt'), true);
    assert.equal(makeExcluder(['?.txt'])('/a/bb.txt'), false);
    assert.equal(makeExcluder(['[ab].txt'])('/a/a.txt'), true);
    assert.equal(makeExcluder(['[ab].txt'])('/a/c.txt'), false);
    assert.equal(makeExcluder(['.env'])('/srv/app/.env'), true);
    assert.equal(makeExcluder(['*'])('/srv/app/.env'), true, '* matches names starting with a dot');
    assert.equal(makeExcluder(['.*'])('/srv/app/.env'), true);
    assert.equal(makeExcluder(['.*'])('/srv/app/env'), false);
  });

  it('matches a pattern with a slash against the path: absolute from the root, relative at any depth', () => {
    const abs = makeExcluder(['/srv/app/cache']);
    assert.equal(abs('/srv/app/cache'), true);
    assert.equal(abs('/other/srv/app/cache'), false);
    assert.equal(abs('/home/u/cache'), false);
    const rel = makeExcluder(['app/cache']);
    assert.equal(rel('/srv/app/cache'), true);
    assert.equal(rel('/app/cache'), true);
    assert.equal(rel('/x/y/app/cache'), true);
    assert.equal(rel('/srv/myapp/cache'), false, 'whole path elements only');
    assert.equal(rel('/srv/app/cache2'), false);
    const glob = makeExcluder(['/srv/*/debug.log']);
    assert.equal(glob('/srv/app/debug.log'), true);
    assert.equal(glob('/srv/a/b/debug.log'), false, '* does not cross a slash');
    assert.equal(makeExcluder(['/srv/*'])('/srv/.hidden'), true);
  });

  it('lets ** match any number of folders', () => {
    const ex = makeExcluder(['/srv/**/*.log']);
    assert.equal(ex('/srv/a.log'), true);
    assert.equal(ex('/srv/logs/old/b.log'), true);
    assert.equal(ex('/home/a.log'), false);
    const lead = makeExcluder(['**/cache/blob']);
    assert.equal(lead('/srv/app/cache/blob'), true);
    assert.equal(lead('/cache/blob'), true);
    assert.equal(lead('/srv/app/cache/blob2'), false);
    const inner = makeExcluder(['/srv/**/old']);
    assert.equal(inner('/srv/logs/old'), true);
    assert.equal(inner('/srv/old'), true);
    assert.equal(makeExcluder(['**'])('/anything/at/all'), true);
  });

  it('re-includes with !: the last matching pattern wins', () => {
    const ex = makeExcluder(['*.log', '!keep.log']);
    assert.equal(ex('/srv/logs/a.log'), true);
    assert.equal(ex('/srv/logs/keep.log'), false);
    assert.equal(makeExcluder(['*.log', '!keep.log', '/srv/logs/*.log'])('/srv/logs/keep.log'), true, 'a later exclude wins again');
    assert.equal(makeExcluder(['!keep.log'])('/srv/logs/keep.log'), false, 'a lone negation excludes nothing');
    assert.equal(makeExcluder(['!keep.log'])('/srv/logs/a.log'), false);
    const paths = makeExcluder(['/srv/logs/*', '!/srv/logs/old']);
    assert.equal(paths('/srv/logs/a.log'), true);
    assert.equal(paths('/srv/logs/old'), false);
  });

  it('trims patterns and ignores comment lines', () => {
    const ex = makeExcluder(['  *.log  ', '# main.ts', '', '\t!keep.log\t']);
    assert.equal(ex('/srv/logs/a.log'), true);
    assert.equal(ex('/srv/logs/keep.log'), false);
    assert.equal(ex('/srv/app/main.ts'), false);
    assert.equal(makeExcluder(['#*.ts'])('/srv/app/#x.ts'), false, 'a line starting with # is a comment, not a pattern');
  });

  it('keeps what a backup with typical patterns should keep (excluded folders are not entered)', () => {
    assert.deepEqual(kept(['node_modules', '*.log', '!keep.log', '/srv/app/cache', '# comment', ''], TREE), [
      '/srv',
      '/srv/app',
      '/srv/app/main.ts',
      '/srv/app/.env',
      '/srv/logs',
      '/srv/logs/keep.log',
      '/srv/logs/old',
      '/home/u/cache/c',
    ]);
    assert.deepEqual(kept(['cache'], TREE).filter((p) => p.includes('cache')), [], 'a name pattern excludes folders at any depth with their content');
    assert.deepEqual(kept(['/srv'], TREE), ['/home/u/cache/c']);
  });

  it('a pattern followed by its negation excludes nothing (property)', () => {
    const seg = fc.stringMatching(/^[a-z][a-z.]{0,5}$/);
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), fc.boolean(), (parts, asPath) => {
        const path = `/${parts.join('/')}`;
        const pattern = asPath ? path : parts.at(-1)!;
        assert.equal(makeExcluder([pattern])(path), true);
        assert.equal(makeExcluder([pattern, `!${pattern}`])(path), false);
        assert.equal(makeExcluder([pattern, `!${pattern}`, pattern])(path), true);
      }),
      { numRuns: 200 },
    );
  });

  it('reports a pattern that is only "!" as a user error', () => {
    try {
      makeExcluder(['*.log', '!']);
    } catch (err) {
      assert.ok(err instanceof UserError, `got ${String(err)}`);
    }
  });
});

describe('readExcludeFile', () => {
  it('reads one pattern a line, which makeExcluder filters', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'safepoint-exclude-test-'));
    try {
      const file = join(dir, 'excludes');
      await writeFile(file, '# caches\nnode_modules\r\n\n*.log\n!keep.log\n');
      const lines = await readExcludeFile(file);
      assert.deepEqual(lines, ['# caches', 'node_modules', '', '*.log', '!keep.log', '']);
      const ex = makeExcluder(lines);
      assert.equal(ex('/a/node_modules'), true);
      assert.equal(ex('/a/x.log'), true);
      assert.equal(ex('/a/keep.log'), false);
      assert.equal(ex('/a/# caches'), false);
      await assert.rejects(readExcludeFile(join(dir, 'missing')), (err: unknown) => err instanceof UserError && /exclude file .*missing does not exist/.test(err.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
