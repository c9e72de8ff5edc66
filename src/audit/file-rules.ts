/**
 * What a file is, by its name, its place and (for a few kinds) its first bytes: the audit's detection rules.
 * Rules run in order — secrets, databases, migrations, deployment, configuration, dependency manifests, code — and
 * the first match wins.
 */
import { CONFIG_FOLDERS, DEPLOY_FOLDERS, SOURCE_FOLDERS, isMigrationFolder } from './folder-rules.js';
import { FREQUENCY, type Category, type Frequency } from './model.js';

export interface FileClass {
  readonly category: Category;
  readonly why: string;
  readonly frequency: Frequency;
  readonly secret?: boolean;
  /** Listed as this folder (relative, ending with `/`) rather than the file: migrations. */
  readonly folder?: string;
  /** Low-signal files (code, tool configs, manifests) that a code folder row covers. */
  readonly foldable?: boolean;
  /** Source code: grouped into folder rows; the language name. */
  readonly language?: string;
  /** The stack this file shows; `weak` evidence (a source file) yields to a manifest, a lockfile to a `primary` one. */
  readonly stack?: { readonly name: string; readonly weak?: boolean; readonly primary?: boolean };
}

/** Reads up to n bytes from the start of the file; null when it cannot be read. */
export type HeadReader = (n: number) => Promise<Buffer | null>;

export const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

const CODE_LANGUAGES: ReadonlyMap<string, string> = new Map([
  ['.ts', 'TypeScript'], ['.tsx', 'TypeScript'], ['.mts', 'TypeScript'], ['.cts', 'TypeScript'],
  ['.js', 'JavaScript'], ['.jsx', 'JavaScript'], ['.mjs', 'JavaScript'], ['.cjs', 'JavaScript'],
  ['.vue', 'Vue'], ['.svelte', 'Svelte'], ['.py', 'Python'], ['.go', 'Go'], ['.java', 'Java'], ['.kt', 'Kotlin'],
  ['.scala', 'Scala'], ['.groovy', 'Groovy'], ['.rb', 'Ruby'], ['.php', 'PHP'], ['.rs', 'Rust'], ['.c', 'C'],
  ['.h', 'C'], ['.cc', 'C++'], ['.cpp', 'C++'], ['.hpp', 'C++'], ['.cs', 'C#'], ['.fs', 'F#'], ['.swift', 'Swift'],
  ['.ex', 'Elixir'], ['.exs', 'Elixir'], ['.erl', 'Erlang'], ['.clj', 'Clojure'], ['.dart', 'Dart'], ['.lua', 'Lua'],
  ['.pl', 'Perl'], ['.sh', 'shell'], ['.bash', 'shell'], ['.zsh', 'shell'], ['.ps1', 'PowerShell'], ['.r', 'R'],
  ['.jl', 'Julia'], ['.html', 'HTML'], ['.css', 'CSS'], ['.scss', 'CSS'], ['.less', 'CSS'], ['.erb', 'templates'],
  ['.ejs', 'templates'], ['.hbs', 'templates'], ['.twig', 'templates'], ['.jinja', 'templates'], ['.j2', 'templates'],
]);

/** Where a language's stack is named when there is no manifest. */
const LANGUAGE_STACKS: ReadonlyMap<string, string> = new Map([
  ['TypeScript', 'Node.js'], ['JavaScript', 'Node.js'], ['Python', 'Python'], ['Go', 'Go'], ['Java', 'Java'],
  ['Kotlin', 'Java'], ['Ruby', 'Ruby'], ['PHP', 'PHP'], ['Rust', 'Rust'],
]);

/** Dependency manifests and lockfiles: listed file by file (they pin what the code was tested with). */
const MANIFESTS: ReadonlyMap<string, [why: string, stack: string]> = new Map([
  ['package.json', ['npm manifest: dependencies and scripts', 'Node.js']],
  ['package-lock.json', ['npm lockfile: the exact dependency versions', 'Node.js']],
  ['npm-shrinkwrap.json', ['npm lockfile: the exact dependency versions', 'Node.js']],
  ['yarn.lock', ['yarn lockfile: the exact dependency versions', 'Node.js']],
  ['pnpm-lock.yaml', ['pnpm lockfile: the exact dependency versions', 'Node.js']],
  ['pnpm-workspace.yaml', ['pnpm workspace layout', 'Node.js']],
  ['tsconfig.json', ['TypeScript compiler settings', 'TypeScript']],
  ['jsconfig.json', ['JavaScript project settings', 'Node.js']],
  ['deno.json', ['Deno settings and dependencies', 'Deno']],
  ['go.mod', ['Go module: dependencies', 'Go']],
  ['go.sum', ['Go checksums of the dependencies', 'Go']],
  ['go.work', ['Go workspace', 'Go']],
  ['requirements.txt', ['Python dependencies (pip)', 'Python']],
  ['constraints.txt', ['Python dependency constraints (pip)', 'Python']],
  ['pyproject.toml', ['Python project: dependencies and tool settings', 'Python']],
  ['setup.py', ['Python package definition', 'Python']],
  ['setup.cfg', ['Python package settings', 'Python']],
  ['pipfile', ['Python dependencies (Pipenv)', 'Python']],
  ['pipfile.lock', ['Pipenv lockfile: the exact dependency versions', 'Python']],
  ['poetry.lock', ['Poetry lockfile: the exact dependency versions', 'Python']],
  ['uv.lock', ['uv lockfile: the exact dependency versions', 'Python']],
  ['pom.xml', ['Maven build: dependencies and plugins', 'Java']],
  ['build.gradle', ['Gradle build', 'Java']],
  ['build.gradle.kts', ['Gradle build', 'Java']],
  ['settings.gradle', ['Gradle settings', 'Java']],
  ['settings.gradle.kts', ['Gradle settings', 'Java']],
  ['gradle.properties', ['Gradle properties', 'Java']],
  ['gemfile', ['Ruby dependencies (Bundler)', 'Ruby']],
  ['gemfile.lock', ['Bundler lockfile: the exact dependency versions', 'Ruby']],
  ['composer.json', ['PHP dependencies (Composer)', 'PHP']],
  ['composer.lock', ['Composer lockfile: the exact dependency versions', 'PHP']],
  ['cargo.toml', ['Rust crate: dependencies', 'Rust']],
  ['cargo.lock', ['Cargo lockfile: the exact dependency versions', 'Rust']],
  ['mix.exs', ['Elixir project: dependencies', 'Elixir']],
  ['mix.lock', ['Mix lockfile: the exact dependency versions', 'Elixir']],
]);

/** The manifest that best shows a stack (rather than its lockfile). */
const PRIMARY_MANIFESTS = new Set(['package.json', 'tsconfig.json', 'deno.json', 'go.mod', 'requirements.txt', 'pyproject.toml', 'pipfile', 'pom.xml', 'build.gradle', 'build.gradle.kts', 'gemfile', 'composer.json', 'cargo.toml', 'mix.exs']);

/** Deployment files known by name. */
const DEPLOY_NAMES: ReadonlyMap<string, [why: string, stack?: string]> = new Map([
  ['dockerfile', ['Docker image build', 'Docker']],
  ['containerfile', ['container image build', 'Docker']],
  ['procfile', ['process types (Heroku, Foreman)', 'Procfile']],
  ['makefile', ['build and deploy targets (make)']],
  ['gnumakefile', ['build and deploy targets (make)']],
  ['justfile', ['build and deploy recipes (just)']],
  ['taskfile.yml', ['build and deploy tasks (Task)']],
  ['capfile', ['Capistrano deployment', 'Capistrano']],
  ['vagrantfile', ['Vagrant machine definition']],
  ['jenkinsfile', ['CI/CD pipeline (Jenkins)', 'Jenkins']],
  ['.gitlab-ci.yml', ['CI/CD pipeline (GitLab)', 'GitLab CI']],
  ['azure-pipelines.yml', ['CI/CD pipeline (Azure)']],
  ['bitbucket-pipelines.yml', ['CI/CD pipeline (Bitbucket)']],
  ['.travis.yml', ['CI pipeline (Travis)']],
  ['.drone.yml', ['CI/CD pipeline (Drone)']],
  ['cloudbuild.yaml', ['CI/CD pipeline (Google Cloud Build)']],
  ['appveyor.yml', ['CI pipeline (AppVeyor)']],
  ['ecosystem.config.js', ['PM2 process file: how the app is started', 'PM2']],
  ['ecosystem.config.cjs', ['PM2 process file: how the app is started', 'PM2']],
  ['ecosystem.config.json', ['PM2 process file: how the app is started', 'PM2']],
  ['chart.yaml', ['Helm chart', 'Helm']],
  ['kustomization.yaml', ['Kustomize overlay', 'Kubernetes']],
  ['kustomization.yml', ['Kustomize overlay', 'Kubernetes']],
  ['.terraform.lock.hcl', ['Terraform provider lockfile', 'Terraform']],
  ['fly.toml', ['Fly.io deployment']],
  ['vercel.json', ['Vercel deployment']],
  ['netlify.toml', ['Netlify deployment']],
  ['render.yaml', ['Render deployment']],
  ['heroku.yml', ['Heroku deployment']],
]);

const PRIVATE_KEY_EXT = new Set(['.key', '.p12', '.pfx', '.jks', '.keystore', '.p8', '.ppk']);
const CERT_EXT = new Set(['.crt', '.cer', '.der', '.csr', '.ca-bundle']);
const SQLITE_EXT = new Set(['.sqlite', '.sqlite3', '.db', '.db3', '.s3db', '.sl3']);
const CONFIG_EXT = new Set(['.yaml', '.yml', '.toml', '.ini', '.conf', '.cfg', '.properties', '.hcl', '.cnf']);
const SCRIPT_EXT = new Set(['', '.sh', '.bash', '.rb', '.py', '.js', '.ts', '.ps1', '.yml', '.yaml']);
const TOOL_CONFIG = /^(\.(eslintrc|prettierrc|babelrc|stylelintrc|editorconfig|browserslistrc|swcrc)(\..+)?|\.(nvmrc|node-version|python-version|ruby-version|go-version|java-version|tool-versions|sdkmanrc)|runtime\.txt)$/;

const secret = (why: string, stack?: string): FileClass => ({ category: 'secrets', why, frequency: FREQUENCY.change, secret: true, ...(stack ? { stack: { name: stack } } : {}) });
const of = (category: Category, why: string, frequency: Frequency, stack?: string, foldable = false): FileClass => ({
  category, why, frequency, ...(stack ? { stack: { name: stack } } : {}), ...(foldable ? { foldable } : {}),
});
const config = (why: string, stack?: string, foldable = false): FileClass => of('configuration', why, FREQUENCY.commit, stack, foldable);
const deploy = (why: string, stack?: string): FileClass => of('deployment', why, FREQUENCY.commit, stack);

/** The extension, lower case, with its dot ('' for none; `.env` has none). */
function extOf(lowerName: string): string {
  const i = lowerName.lastIndexOf('.');
  return i <= 0 ? '' : lowerName.slice(i);
}

/** Which kind of folder decides a file's place: the first source, config or deploy folder on its path. */
function placeOf(dirs: readonly string[]): 'source' | 'config' | 'deploy' | null {
  for (const d of dirs) {
    if (SOURCE_FOLDERS.has(d)) return 'source';
    if (CONFIG_FOLDERS.has(d)) return 'config';
    if (DEPLOY_FOLDERS.has(d)) return 'deploy';
  }
  return null;
}

/**
 * The secret and database rules alone: what the audit looks for inside data folders (which are listed as a whole).
 * Returns undefined when no rule matched.
 */
export async function classifySensitive(rel: string, head: HeadReader): Promise<FileClass | null | undefined> {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  const lower = name.toLowerCase();
  const ext = extOf(lower);

  // ---- secrets and certificates
  if (lower === '.env' || /^\.env[-_.]/.test(lower) || lower === '.envrc' || ext === '.env') {
    if (/\.(example|sample|template|dist|defaults?|tpl)$/.test(lower)) return config('template of the environment file (no real secrets expected)', 'dotenv (.env files)');
    return secret('environment file: passwords, API keys and connection strings', 'dotenv (.env files)');
  }
  if (ext === '.pem') {
    const text = (await head(64 * 1024))?.toString('latin1');
    if (text === undefined || /PRIVATE KEY/.test(text)) return secret('private key (PEM): whoever holds it can impersonate the server', 'TLS keys and certificates');
    return of('secrets', 'certificate (PEM): public, but the server needs it next to its key', FREQUENCY.change, 'TLS keys and certificates');
  }
  if (PRIVATE_KEY_EXT.has(ext)) return secret(ext === '.key' ? 'private key: whoever holds it can impersonate the server' : 'key store with private keys', 'TLS keys and certificates');
  if (CERT_EXT.has(ext)) return of('secrets', 'certificate: public, but the server needs it next to its key', FREQUENCY.change, 'TLS keys and certificates');
  if (/^id_(rsa|dsa|ecdsa|ed25519)(_sk)?$/.test(lower) || /^ssh_host_\w+_key$/.test(lower) || /^deploy[-_]key$/.test(lower)) return secret('SSH private key');
  if (['.htpasswd', '.netrc', '.pgpass', '.my.cnf', '.git-credentials'].includes(lower)) return secret('password file');
  if (/^(credentials|secrets?)(\.(json|ya?ml|toml|ini))?$/.test(lower) || /^client_secret.*\.json$/.test(lower) || /service[-_]?account.*\.json$/.test(lower)) {
    return secret('credentials file');
  }
  if (lower.endsWith('.tfstate') || lower.endsWith('.tfstate.backup')) return secret('Terraform state: the infrastructure as deployed, with its secrets in plain text', 'Terraform');
  if (ext === '.tfvars') return secret('Terraform variables: often hold credentials', 'Terraform');
  if (ext === '.kdbx') return secret('password database (KeePass)');
  if (lower === '.npmrc' || lower === '.pypirc' || lower === '.yarnrc.yml') {
    const text = (await head(64 * 1024))?.toString('utf8') ?? '';
    if (/_authToken|_auth\b|password|npmAuthToken|npmAuthIdent/i.test(text)) return secret('package registry settings with a token or password');
    return config('package registry settings', undefined, true);
  }

  // ---- database files: trust the header, not the extension
  if (/\.(sqlite3?|db3?|s3db|sl3)-(wal|shm|journal)$/.test(lower)) return null; // part of the database next to it
  if (lower === 'thumbs.db') return null;
  if (SQLITE_EXT.has(ext)) {
    const magic = await head(SQLITE_MAGIC.length);
    if (magic !== null && magic.equals(SQLITE_MAGIC)) {
      return of('database', 'SQLite database: the application\'s data; back it up with a `type: sqlite` source for a consistent copy while it is in use', FREQUENCY.daily, 'SQLite');
    }
    if (magic !== null && magic.length === 0) return of('data', `empty file named *${ext}`, FREQUENCY.daily);
    return of('data', `named *${ext} but not a SQLite database (no "SQLite format 3" header): kept as a data file`, FREQUENCY.daily);
  }
  return undefined;
}

/** Classifies a file outside data folders; null: not critical (README, images, logs...). */
export async function classifyFile(rel: string, head: HeadReader): Promise<FileClass | null> {
  const sensitive = await classifySensitive(rel, head);
  if (sensitive !== undefined) return sensitive;
  const segments = rel.split('/');
  const name = segments.at(-1) ?? rel;
  const lower = name.toLowerCase();
  const ext = extOf(lower);
  const dirs = segments.slice(0, -1).map((d) => d.toLowerCase());
  const stem = ext === '' ? lower : lower.slice(0, -ext.length);

  // ---- database schema: migrations folders, SQL files, ORM schemas
  const m = dirs.findIndex((d, i) => isMigrationFolder(d, dirs[i - 1]));
  if (m >= 0) {
    const folder = `${segments.slice(0, m + 1).join('/')}/`;
    return { category: 'database', why: 'schema migrations: rebuild the database schema, or roll it back, version by version', frequency: FREQUENCY.commit, folder, stack: { name: 'Database migrations' } };
  }
  if (ext === '.sql') {
    if (/schema|structure|seed|init/.test(stem)) return of('database', 'SQL schema or seed data', FREQUENCY.commit);
    return of('database', 'SQL file (a dump or a script)', FREQUENCY.daily);
  }
  if (ext === '.prisma') return of('database', 'Prisma schema: the database model', FREQUENCY.commit);
  if (lower === 'schema.rb' && dirs.at(-1) === 'db') return of('database', 'Rails database schema', FREQUENCY.commit);

  // ---- deployment
  const named = DEPLOY_NAMES.get(lower);
  if (named) return deploy(named[0], named[1]);
  if (lower.startsWith('dockerfile.') || ext === '.dockerfile') return deploy('Docker image build', 'Docker');
  if (/^(docker-)?compose([.-].*)?\.ya?ml$/.test(lower)) return deploy('Docker Compose services', 'Docker');
  if ((ext === '.yml' || ext === '.yaml') && dirs.join('/').endsWith('.github/workflows')) return deploy('CI/CD workflow (GitHub Actions)', 'GitHub Actions');
  if (lower === 'config.yml' && dirs.at(-1) === '.circleci') return deploy('CI/CD pipeline (CircleCI)');
  if (ext === '.tf') return deploy('Terraform infrastructure', 'Terraform');
  if (['.service', '.timer', '.socket'].includes(ext)) {
    const text = (await head(16 * 1024))?.toString('utf8') ?? '';
    if (/^\[(Unit|Service|Install|Timer|Socket)\]/m.test(text)) return deploy(`systemd unit: how the ${ext.slice(1)} runs on the host`, 'systemd');
  }
  const place = placeOf(dirs);
  const scriptPlace = place !== 'source' || dirs.includes('scripts') || dirs.includes('bin');
  if (/(^|[-_.])(deploy|release|provision|rollback)([-_.]|$)/.test(stem) && SCRIPT_EXT.has(ext) && scriptPlace) return deploy('deploy script');
  if (ext === '.yml' || ext === '.yaml') {
    const text = (await head(64 * 1024))?.toString('utf8') ?? '';
    const kinds = [...new Set([...text.matchAll(/^kind:\s*["']?(\w+)/gm)].map((k) => k[1]))];
    if (/^apiVersion:\s*\S/m.test(text) && kinds.length > 0) return deploy(`Kubernetes manifest (${kinds.slice(0, 4).join(', ')})`, 'Kubernetes');
    if (/^-\s+(?:\w+:.*\n\s+)*hosts:/m.test(text) && /^\s+(tasks|roles):/m.test(text)) return deploy('Ansible playbook', 'Ansible');
  }

  // ---- configuration
  if (lower === 'nginx.conf' || dirs.includes('nginx') || dirs.includes('sites-enabled') || dirs.includes('sites-available') || (dirs.includes('conf.d') && ext === '.conf')) {
    return config('nginx configuration: how requests reach the application', 'nginx');
  }
  if (['httpd.conf', 'apache2.conf', '.htaccess'].includes(lower)) return config('Apache configuration', 'Apache');
  if (lower === 'caddyfile') return config('Caddy configuration', 'Caddy');
  if (lower === 'haproxy.cfg') return config('HAProxy configuration', 'HAProxy');
  if (lower === 'safepoint.yaml' || lower === 'safepoint.yml') return config('safepoint configuration: what is backed up, where and when');

  if (place === 'config') return config('configuration file');
  if (place === 'deploy') return deploy('file of the deployment folder');

  const manifest = MANIFESTS.get(lower) ?? (/^requirements([-_.].*)?\.txt$/.test(lower) ? MANIFESTS.get('requirements.txt') : undefined) ?? (/^tsconfig\..*\.json$/.test(lower) ? MANIFESTS.get('tsconfig.json') : undefined);
  if (manifest) return { category: 'code', why: manifest[0], frequency: FREQUENCY.commit, foldable: true, stack: { name: manifest[1], primary: PRIMARY_MANIFESTS.has(lower) } };
  if (ext === '.gemspec' || ext === '.csproj' || ext === '.sln') return of('code', 'project and dependency definition', FREQUENCY.commit, undefined, true);
  if (TOOL_CONFIG.test(lower) || /\.config\.(js|cjs|mjs|ts|mts|cts|json)$/.test(lower)) return config('build and tooling configuration', undefined, true);
  if (CONFIG_EXT.has(ext) || ((ext === '.json' || ext === '.xml') && dirs.length === 0)) return config('configuration file', undefined, true);

  const language = CODE_LANGUAGES.get(ext);
  if (language !== undefined) {
    const stack = LANGUAGE_STACKS.get(language);
    return { category: 'code', why: `source code (${language})`, frequency: FREQUENCY.commit, foldable: true, language, ...(stack ? { stack: { name: stack, weak: true } } : {}) };
  }
  return null;
}
