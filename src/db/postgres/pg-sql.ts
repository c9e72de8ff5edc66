/** SQL text for the PostgreSQL driver: quoting, database names, row counts and database-level options. */

/** Longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes); longer ones are silently truncated by the server. */
export const MAX_IDENTIFIER_BYTES = 63;

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** A string literal that reads the same whatever standard_conforming_strings is. */
export function quoteLiteral(s: string): string {
  const body = s.replace(/'/g, "''");
  return s.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** `name` + `suffix`, the name shortened (by whole characters) so the result fits in an identifier. */
export function withSuffix(name: string, suffix: string): string {
  const chars = [...name];
  while (chars.length > 0 && Buffer.byteLength(chars.join('') + suffix) > MAX_IDENTIFIER_BYTES) chars.pop();
  return chars.join('') + suffix;
}

/**
 * Exact row counts of every ordinary table (partitions and inheritance children each on their own, `ONLY`) that
 * pg_dump dumps the rows of: not system schemas, not temporary tables, not tables of extensions. One row, one JSON
 * object `{ "schema.table": count }`: names can hold any character, JSON keeps them on one line.
 */
export const TABLE_COUNTS_SQL = `SELECT coalesce(json_object_agg(t.name, t.n ORDER BY t.name), '{}'::json) FROM (
  SELECT n.nspname || '.' || c.relname AS name,
    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint AS n
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND c.relpersistence <> 't'
    AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
) t;`;

/** What CREATE DATABASE needs to recreate a database like the one dumped (pg_dump leaves it out without --create). */
export interface DatabaseOptions {
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
  /** `c` libc, `i` ICU, `b` builtin (PostgreSQL 17). */
  readonly locale_provider: string;
  /** The ICU / builtin locale, when the provider is not libc. */
  readonly locale: string | null;
  readonly icu_rules: string | null;
  readonly owner: string;
  /** `ALTER DATABASE ... SET` settings, as `name=value`. */
  readonly settings: readonly string[];
}

/** One row, one JSON DatabaseOptions of the current database; `versionNum` is the server's server_version_num. */
export function databaseOptionsSql(versionNum: number): string {
  const provider = versionNum >= 150000 ? 'd.datlocprovider' : `'c'`;
  const locale = versionNum >= 170000 ? 'd.datlocale' : versionNum >= 150000 ? 'd.daticulocale' : 'NULL';
  const rules = versionNum >= 160000 ? 'd.daticurules' : 'NULL';
  return `SELECT json_build_object('encoding', pg_catalog.pg_encoding_to_char(d.encoding), 'collate', d.datcollate, 'ctype', d.datctype,
    'locale_provider', ${provider}, 'locale', ${locale}, 'icu_rules', ${rules}, 'owner', pg_catalog.pg_get_userbyid(d.datdba),
    'settings', coalesce((SELECT array_to_json(s.setconfig) FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '[]'::json))
  FROM pg_catalog.pg_database d WHERE d.datname = current_database();`;
}

/**
 * CREATE DATABASE `name` from template0 with the dumped database's encoding and locale (and owner, when
 * `owner` is true: the role exists and the current user may give it a database). `versionNum`: the target server's.
 */
export function createDatabaseSql(name: string, o: DatabaseOptions | undefined, versionNum: number, owner: boolean): string {
  const parts = [`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`];
  if (o) {
    parts.push(`ENCODING ${quoteLiteral(o.encoding)} LC_COLLATE ${quoteLiteral(o.collate)} LC_CTYPE ${quoteLiteral(o.ctype)}`);
    if (versionNum >= 150000) {
      if (o.locale_provider === 'i') parts.push(`LOCALE_PROVIDER icu ICU_LOCALE ${quoteLiteral(o.locale ?? '')}`);
      else if (o.locale_provider === 'b') parts.push(`LOCALE_PROVIDER builtin BUILTIN_LOCALE ${quoteLiteral(o.locale ?? 'C')}`);
      else parts.push('LOCALE_PROVIDER libc');
      if (o.icu_rules && versionNum >= 160000) parts.push(`ICU_RULES ${quoteLiteral(o.icu_rules)}`);
    }
    if (owner) parts.push(`OWNER ${quoteIdent(o.owner)}`);
  }
  return `${parts.join(' ')};`;
}

/** Settings whose value is a list, written element by element (as pg_dump does); quoting the whole would change them. */
const LIST_SETTINGS = new Set(['local_preload_libraries', 'search_path', 'session_preload_libraries', 'shared_preload_libraries', 'temp_tablespaces', 'unix_socket_directories']);

/** The elements of a list setting as stored (`"$user", public`): double-quoted or bare, comma-separated. */
export function splitSettingList(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ') i++;
    if (i >= value.length) break;
    let item = '';
    if (value[i] === '"') {
      i++;
      while (i < value.length) {
        if (value[i] === '"') {
          if (value[i + 1] !== '"') break;
          i++;
        }
        item += value[i];
        i++;
      }
      i++;
      while (i < value.length && value[i] !== ',') i++;
    } else {
      while (i < value.length && value[i] !== ',') item += value[i++];
      item = item.trim();
    }
    out.push(item);
    i++; // the comma
  }
  return out;
}

/** `ALTER DATABASE name SET ...;` for each `name=value` setting. */
export function databaseSettingsSql(name: string, settings: readonly string[]): string {
  return settings
    .map((s) => {
      const eq = s.indexOf('=');
      if (eq <= 0) return '';
      const key = s.slice(0, eq);
      const value = s.slice(eq + 1);
      const v = LIST_SETTINGS.has(key.toLowerCase()) ? splitSettingList(value).map(quoteLiteral).join(', ') || "''" : quoteLiteral(value);
      return `ALTER DATABASE ${quoteIdent(name)} SET ${quoteIdent(key)} TO ${v};\n`;
    })
    .join('');
}

/** The owners named in a `pg_restore -l` listing (last word of each entry; entries without an owner end in a space). */
export function tocOwners(listing: string): Set<string> {
  const owners = new Set<string>();
  for (const line of listing.split('\n')) {
    if (!/^\d+; /.test(line) || line.endsWith(' ')) continue;
    const owner = line.slice(line.lastIndexOf(' ') + 1);
    if (owner !== '') owners.add(owner);
  }
  return owners;
}
