/**
 * The deploy part of the demo: a small app in a git repository is deployed twice with safepoint's own deploy
 * command; the second release fails its health check and is rolled back by itself; the timeline is printed.
 */
import { execFile } from 'node:child_process';
import { mkdir, readlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Context } from '../cli/context.js';
import { runDeploy } from '../cli/deploy.js';
import { listReleases } from '../deploy/release.js';
import { Repository } from '../repo/repository.js';
import { openStorage } from '../storage/registry.js';
import { Secret } from '../util/secret.js';
import { errorMessage } from '../util/errors.js';

const exec = promisify(execFile);

type Step = <T>(title: string, fn: () => Promise<[T, string]>) => Promise<T>;

/** Runs the deploy story in `dir`; false when a release did not end as the story says. Skipped without git. */
export async function demoDeploy(dir: string, step: Step): Promise<boolean> {
  const hasGit = await exec('git', ['--version']).then(() => true, () => false);
  if (!hasGit) return step('deploy story skipped', async () => [true, 'git is not installed (apt-get install git)']);
  const app = join(dir, 'shop-app');
  const env = { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@localhost', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@localhost' };
  const git = async (...args: string[]): Promise<void> => void (await exec('git', ['-C', app, ...args], { env }));
  const put = async (rel: string, text: string): Promise<void> => {
    await mkdir(join(app, rel, '..'), { recursive: true });
    await writeFile(join(app, rel), text);
  };
  const config = join(app, 'safepoint.yaml');
  const ctx = (): Context => new Context({ config, quiet: true }, { ...process.env, SAFEPOINT_PASSWORD: undefined, SAFEPOINT_CONFIG: undefined });

  await step('create the app\'s git repository and its deploy configuration', async () => {
    const password = randomBytes(12).toString('hex');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'deploy-password'), `${password}\n`, { mode: 0o600 });
    await (await Repository.init(await openStorage(join(dir, 'deploy-repo')), new Secret(password))).close();
    await put('app.js', 'console.log("shop v1.0")\n');
    await put('healthcheck.sh', 'exit 0\n');
    await put('config/app.env', 'FEATURE_FLAGS=stable\n');
    await put('safepoint.yaml', [
      'version: 1',
      'project: shop',
      'repositories:',
      `  files: { targets: [ ${join(dir, 'deploy-repo')} ], password_file: ${join(dir, 'deploy-password')} }`,
      'sources:',
      '  - { name: code-config, type: files, repository: files, paths: [ config ], schedule: on-major-commit }',
      'deploy:',
      `  git: ${app}`,
      `  releases_dir: ${join(dir, 'releases')}`,
      `  current: ${join(dir, 'current')}`,
      '  scripts: [ "echo built > BUILD" ]',
      '  health: { command: "sh healthcheck.sh", timeout: 2s }',
      '  auto_rollback: { window: 1500ms, interval: 250ms, failure_limit: 2 }',
      '',
    ].join('\n'));
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'shop v1.0');
    return [null, `${app}: a git repository, deploy.releases_dir ${join(dir, 'releases')}, deploy.current ${join(dir, 'current')}, health: sh healthcheck.sh`];
  });
  const deploy = async (): Promise<string> => {
    try {
      await runDeploy(ctx(), { rev: 'HEAD', autoRollback: true, point: true });
      return 'live and healthy';
    } catch (err) {
      return errorMessage(err);
    }
  };
  const live = async (): Promise<string> => basename(await readlink(join(dir, 'current')));
  const first = await step('deploy release 1 (shop v1.0) with --auto-rollback', async () => {
    const outcome = await deploy();
    return [await live(), `release ${await live()}: ${outcome} (restore point made, scripts run, current switched, health watched)`];
  });
  await new Promise((r) => setTimeout(r, 1000)); // release ids have one-second resolution
  await step('deploy release 2 (shop v1.1) whose health check fails', async () => {
    await put('app.js', 'console.log("shop v1.1")\nthrow new Error("boom")\n');
    await put('healthcheck.sh', 'echo "GET /health: 500" >&2; exit 1\n');
    await git('commit', '-q', '-am', 'shop v1.1');
    const outcome = await deploy();
    return [null, `${outcome.split(';')[0]}; current is ${await live()} again`];
  });
  return step('the timeline of the releases', async () => {
    const rels = await listReleases(join(dir, 'releases'));
    const now = await live();
    const lines = rels.map((r) => `${r.record.id} ${r.record.status}${r.record.reason ? ` (${r.record.reason.split(';')[0]})` : ''}${r.record.switched_at ? `, live at ${r.record.switched_at.slice(11, 19)}` : ''}`);
    const ok = rels.length === 2 && rels[0]?.record.status === 'healthy' && rels[1]?.record.status === 'failed' && now === first;
    return [ok, `${lines.join(' → ')}; live now: ${now}${ok ? ' (rolled back automatically)' : ' (UNEXPECTED)'}`];
  });
}
