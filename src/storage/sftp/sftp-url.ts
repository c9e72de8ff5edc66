import { isIP } from 'node:net';
import { userInfo } from 'node:os';
import { UsageError } from '../../util/errors.js';
import { stripCredentials } from '../../util/secret.js';

/** Where an `sftp:` repository lives, parsed from its URL. Never holds credentials. */
export interface SftpTarget {
  readonly user: string;
  /** Host name or IP address; an IPv6 address without its brackets. */
  readonly host: string;
  readonly port: number;
  /**
   * Folder on the server without a trailing slash: absolute (`/srv/repo`), or relative to the login folder
   * (`repo`, or `''` for the login folder itself).
   */
  readonly path: string;
  /** `sftp://user@host:port/path` (`/~/path` for a relative path), for messages and `properties().location`. */
  readonly location: string;
}

const FORMS = 'sftp:[user@]host:path or sftp://[user@]host[:port]/path';
/** `user:password@` at the start, in either form (so `sftp:host:dir@x` is refused too: it reads like one). */
const PASSWORD = /^(sftp:(?:\/\/)?[^:/@[]*):[^/]*@/;

/**
 * Parses the part of a repository URL after `sftp:`:
 * - scp-like `[user@]host:path`: a path without a leading slash is relative to the login folder; no port;
 * - `//[user@]host[:port]/path`: the path is absolute; `/~/path` is relative to the login folder (as in the
 *   IETF draft for sftp URIs), and restic's `//abs` double slash is accepted as the absolute path `/abs`.
 * IPv6 addresses go in brackets (`[::1]:/srv/repo`, `sftp://[::1]:2222/srv/repo`). The user defaults to
 * `defaultUser` (the current user), the port to 22. Passwords are refused (only keys authenticate), and so is
 * an scp-like relative path with an `@` before any slash, which reads like `user:password@host`.
 * Throws UsageError naming the URL (without credentials) and the accepted forms.
 */
export function parseSftpUrl(rest: string, defaultUser: string = userInfo().username): SftpTarget {
  const shown = `sftp:${rest}`.replace(PASSWORD, '$1:***@');
  const bad = (why: string): UsageError => new UsageError(`repository ${stripCredentials(shown)}: ${why}; expected ${FORMS}`);
  if (PASSWORD.test(`sftp:${rest}`)) throw bad('passwords do not belong in the URL (use a key: key_file, ssh-agent or ~/.ssh/id_*)');
  let user: string | undefined;
  let host: string;
  let port = 22;
  let path: string;
  if (rest.startsWith('//')) {
    const m = /^\/\/(?:([^/?#]*)@)?(\[[^\]/]*\]|[^:/?#@[\]]*)(?::([^/?#]*))?(\/[^?#]*)?$/.exec(rest);
    if (!m) throw bad(rest.includes('?') || rest.includes('#') ? 'no query or fragment allowed' : 'not a valid URL');
    const [, userPart, hostPart = '', portPart, pathPart = ''] = m;
    user = userPart === undefined ? undefined : decode(userPart, bad);
    host = hostPart;
    if (portPart !== undefined) {
      if (!/^\d{1,5}$/.test(portPart) || Number(portPart) < 1 || Number(portPart) > 65535) throw bad(`"${portPart}" is not a port number`);
      port = Number(portPart);
    }
    path = decode(pathPart, bad);
    if (path === '/~' || path.startsWith('/~/')) path = path.slice(3);
    else path = path.replace(/^\/+/, '/');
  } else {
    const m = /^(?:([^:/]*)@)?(\[[^\]/]*\]|[^:/@[\]]*):(.*)$/.exec(rest);
    if (!m) throw bad('no "host:" part');
    const [, userPart, hostPart = '', pathPart = ''] = m;
    user = userPart;
    host = hostPart;
    path = pathPart;
  }
  if (user === '') throw bad('empty user name');
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) throw bad(`"[${host}]" is not an IPv6 address`);
  } else if (!host) {
    throw bad('no host');
  } else if (!/^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$/.test(host)) {
    throw bad(`"${host}" is not a host name`);
  }
  if (path.includes('\0')) throw bad('the path holds a NUL character');
  path = path.length > 1 ? path.replace(/\/+$/, '') : path === '.' ? '' : path;
  user ??= defaultUser;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const pathInUrl = path.startsWith('/') ? path : path ? `/~/${path}` : '/~';
  return { user, host, port, path, location: `sftp://${user}@${hostInUrl}:${port}${pathInUrl}` };
}

function decode(s: string, bad: (why: string) => UsageError): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad('bad %-escape');
  }
}
