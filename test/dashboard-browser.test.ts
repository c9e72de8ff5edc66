/**
 * The daemon's dashboard in a real browser (issue 7): Debian's chromium driven by playwright-core loads the page from
 * a daemon started by the test, over a project with one source backed up, drilled and checked (ok) and one never
 * backed up (violated). What the page renders is checked, not its HTML: the project, each source's verdict, the
 * charts, the scheduled jobs; the page logs no error, the content security policy blocks nothing, and no request
 * leaves for another origin (the page works offline). A full-page screenshot is kept in test-artifacts/dashboard.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { runCli, spawnCli, tempDir, waitUntil, writeTree, type CliProcess } from './helpers.js';
import { needService } from './services/require.js';
import { freePort } from '../src/util/net.js';

const CHROMIUM = '/usr/bin/chromium';
/** The repository's root, from this compiled file (dist/test/dashboard-browser.test.js). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCREENSHOT = join(ROOT, 'test-artifacts', 'dashboard.png');

/** Collects the page's content-security-policy violations; injected by the browser, so the policy does not apply to it. */
const CSP_PROBE = `globalThis.__cspViolations = [];
globalThis.addEventListener('securitypolicyviolation', (e) => globalThis.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`;

test('dashboard in chromium: project, verdicts, charts and jobs as rendered; no error, nothing blocked, nothing fetched elsewhere; screenshot', { timeout: 240_000 }, async (t) => {
  if (!needService(t, existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt-get install chromium)`)) return;
  const started = Date.now();
  const dir = await tempDir();
  let daemon: CliProcess | null = null;
  let browser: Browser | null = null;
  t.after(async () => {
    try {
      await browser?.close();
      if (daemon?.running) {
        daemon.kill('SIGTERM');
        const end = await daemon.exited;
        assert.equal(end.code, 0, `the daemon exits 0 on SIGTERM; stderr: ${end.stderr.slice(-2000)}`);
      }
    } finally {
      daemon?.kill('SIGKILL');
      await dir.cleanup();
    }
  });

  const root = dir.path;
  await writeTree(join(root, 'app'), { 'index.html': '<h1>bakery</h1>\n', 'src/main.js': 'console.log("bread")\n'.repeat(100) });
  await writeTree(join(root, 'uploads'), { 'cake.jpg': 'not really a picture\n' });
  const port = await freePort();
  const config = join(root, 'safepoint.yaml');
  // uploads is scheduled once a year (1 January, midnight) so that it stays never backed up while the test runs
  await writeFile(config, `version: 1
project: bakery
repositories:
  main: { targets: [ ${join(root, 'repo')} ] }
sources:
  - { name: app, type: files, repository: main, paths: [ ${join(root, 'app')} ], schedule: "0 2 * * *", rpo: 1d, rto: 1h }
  - { name: uploads, type: files, repository: main, paths: [ ${join(root, 'uploads')} ], schedule: "0 0 1 1 *", rpo: 1d, rto: 1h }
daemon:
  listen: 127.0.0.1:${port}
`);
  const cli = async (args: string[]): Promise<void> => {
    const r = await runCli([...args, '--config', config]);
    assert.equal(r.code, 0, `safepoint ${args.join(' ')}: ${r.stderr}`);
  };
  await cli(['init', '--repo', 'main']);
  await cli(['backup', '--source', 'app']);
  await cli(['drill', '--source', 'app']);
  await cli(['check']);

  // a first start (empty state folder): nothing was missed, so the daemon runs no job by itself during the test
  const state = join(root, 'state');
  await mkdir(state);
  daemon = spawnCli(['daemon', '--config', config, '--state-dir', state], { timeoutMs: 230_000 });
  await daemon.waitForLine((l) => /dashboard, API and \/metrics on http/.test(l), 30_000);
  const origin = `http://127.0.0.1:${port}`;
  type Status = { project: string; sources: { source: string; verdict: string; reasons: string[] }[] };
  const status = await waitUntil(async () => {
    const s = (await (await fetch(`${origin}/api/status`)).json()) as Status;
    const v = Object.fromEntries(s.sources.map((x) => [x.source, x.verdict]));
    return v.app === 'ok' && v.uploads === 'violated' ? s : null;
  }, 'app ok and uploads violated in /api/status', 60_000, 250);
  assert.equal(status.project, 'bakery');
  const ready = Date.now();

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'], timeout: 60_000 });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // no request is allowed to leave for another origin (the dashboard must work offline); every request is recorded
  const requested: string[] = [];
  const elsewhere: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) await route.continue();
    else {
      elsewhere.push(url);
      await route.abort('blockedbyclient');
    }
  });
  const page = await context.newPage();
  const consoleMessages: string[] = [];
  const pageErrors: string[] = [];
  const failedRequests: string[] = [];
  page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('request', (r) => requested.push(r.url()));
  page.on('requestfailed', (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText ?? '?'}`));
  await page.addInitScript({ content: CSP_PROBE });

  const response = await page.goto(`${origin}/`, { waitUntil: 'load', timeout: 30_000 });
  assert.ok(response, 'the dashboard answered');
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'none'/);
  const loaded = Date.now();

  // the project
  assert.equal(await page.title(), 'Backup report: bakery');
  assert.equal((await page.locator('h1').textContent())?.trim(), 'Backup report: bakery');
  assert.equal(await page.locator('script').count(), 0, 'the dashboard has no script');

  // each source and its verdict, as the summary table and the source's heading show them
  const summary = page.locator('section[aria-label="Summary"]');
  assert.match((await summary.locator('p.lead').textContent()) ?? '', /\S/);
  const verdicts = { app: 'ok', uploads: 'violated' } as const;
  for (const [source, verdict] of Object.entries(verdicts)) {
    const row = summary.locator('table tbody tr', { has: page.getByRole('link', { name: source, exact: true }) });
    assert.equal(await row.count(), 1, `one summary row for ${source}`);
    const pill = row.locator('.verdict');
    assert.equal((await pill.textContent())?.trim(), verdict, `${source} is shown ${verdict} in the summary`);
    assert.ok(await pill.isVisible(), `${source}'s verdict is visible`);
    assert.equal(await pill.getAttribute('class'), `verdict ${verdict}`);
    const heading = page.locator('section.source h2', { has: page.locator('span', { hasText: new RegExp(`^${source}$`) }) });
    assert.equal(await heading.count(), 1, `a section for ${source}`);
    assert.equal((await heading.locator('.verdict').textContent())?.trim(), verdict, `${source}'s section shows ${verdict}`);
    assert.ok(await heading.isVisible());
  }
  // the pills differ in colour, not only in words
  type Styles = { getComputedStyle(e: unknown): { color: string; backgroundColor: string } };
  const colour = (v: string): Promise<string> =>
    page.locator(`section.source h2 .verdict.${v}`).first().evaluate((e) => {
      const style = (globalThis as unknown as Styles).getComputedStyle(e);
      return `${style.color} on ${style.backgroundColor}`;
    });
  assert.notEqual(await colour('ok'), await colour('violated'));
  // why uploads is violated, in the list of sources needing attention and in its section
  assert.match((await summary.locator('ul').textContent()) ?? '', /uploads is violated: never backed up/);
  assert.match((await page.locator('section.source', { has: page.locator('h2', { hasText: 'uploads' }) }).locator('ul.reasons').textContent()) ?? '', /never backed up/);

  // the charts: inline SVG, each with a title, drawn with a real size
  const charts = page.locator('svg.chart');
  assert.equal(await charts.count(), 8, 'four charts per source');
  const titles = await page.locator('svg.chart > title').allTextContents();
  for (const source of Object.keys(verdicts)) {
    for (const kind of ['Backup size', 'Backup duration', 'RPO exposure', 'Drill restore time']) assert.ok(titles.includes(`${kind} of ${source}`), `chart "${kind} of ${source}" in ${titles.join(', ')}`);
  }
  for (const chart of await charts.all()) {
    const box = await chart.boundingBox();
    assert.ok(box && box.width >= 300 && box.height >= 100, `a chart drawn at ${JSON.stringify(box)}`);
  }

  // the daemon's own sections: the scheduled jobs list the backup jobs, the snapshots and the journal what was done
  const jobs = page.locator('#daemon-jobs');
  assert.equal((await jobs.locator('h2').textContent())?.trim(), 'Scheduled jobs');
  assert.ok(await jobs.isVisible());
  const jobRows = await jobs.locator('tbody tr').allInnerTexts();
  const jobIds = await jobs.locator('tbody tr td:first-child').allTextContents();
  for (const id of ['backup:app', 'backup:uploads', 'check', 'drill']) assert.ok(jobIds.includes(id), `job ${id} in ${jobIds.join(', ')}`);
  assert.match(jobRows.find((r) => r.startsWith('backup:app')) ?? '', /0 2 \* \* \*/);
  assert.match(jobRows.find((r) => r.startsWith('backup:uploads')) ?? '', /0 0 1 1 \*/);
  const snapshotSources = await page.locator('#daemon-snapshots tbody tr td:nth-child(3)').allTextContents();
  assert.deepEqual([...new Set(snapshotSources)], ['app']);
  const journal = (await page.locator('#daemon-journal tbody tr').allInnerTexts()).map((r) => r.split('\t').slice(1, 4).join(' '));
  for (const want of ['backup app ok', 'drill app ok']) assert.ok(journal.includes(want), `${want} in the journal: ${journal.join(' | ')}`);
  assert.ok(journal.some((r) => r.startsWith('check ') && r.endsWith(' ok')), `a check in the journal: ${journal.join(' | ')}`);

  // nothing went wrong in the page: no error, no warning, nothing blocked by the policy, nothing fetched elsewhere
  const violations = (await page.evaluate('globalThis.__cspViolations')) as string[];
  assert.deepEqual(violations, [], 'the content security policy blocked nothing');
  assert.deepEqual(pageErrors, [], 'no JavaScript error');
  assert.deepEqual(consoleMessages.filter((m) => /^(error|warning|assert)/.test(m)), [], `no console error or warning: ${consoleMessages.join(' | ')}`);
  assert.deepEqual(elsewhere, [], 'no request for another origin');
  assert.deepEqual(failedRequests, []);
  assert.ok(requested.includes(`${origin}/`), `the dashboard itself among ${requested.join(', ')}`);
  for (const url of requested) assert.equal(new URL(url).origin, origin, `${url} is the daemon's`);
  // laid out within the window: nothing wider than the page
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);

  // the screenshot, kept as a test artifact
  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  const png = await readFile(SCREENSHOT);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.equal(width, 1280);
  assert.ok(height > 900, `the full page, taller than the window: ${height} px`);
  assert.ok((await stat(SCREENSHOT)).size > 50_000, `a screenshot of ${png.length} bytes`);
  t.diagnostic(`daemon ready in ${ready - started} ms, page loaded in ${loaded - ready} ms (browser launch included), total ${Date.now() - started} ms; screenshot ${SCREENSHOT} (${width}x${height}, ${png.length} bytes); requests: ${requested.join(', ')}; console: ${consoleMessages.length === 0 ? 'none' : consoleMessages.join(' | ')}`);
});
