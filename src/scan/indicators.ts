/**
 * The curated lists of the anomaly scan, in one place: ransom-note names, extensions ransomware gives to encrypted
 * files, compression suffixes and file magics that explain a high-entropy head, and the folders where a new script is
 * unusual.
 */

/** Extensions ransom notes have: text, web pages, HTML applications, links (a `.sh` or `.md` is not a note). */
export const NOTE_EXTENSIONS: ReadonlySet<string> = new Set(['txt', 'html', 'htm', 'hta', 'rtf', 'url', '']);

/**
 * Names ransomware gives the notes it drops to ask for payment, matched against the base name without its extension.
 * `DECRYPT` must be upper case: notes shout it, while `decryption-guide.html` is documentation.
 */
export const RANSOM_NOTE_PATTERNS: readonly RegExp[] = [
  /^[!#_ -]*readme[-_ ]?(to|for)[-_ ]?decrypt/i,
  /^[!#_ -]*how[-_ ]?to[-_ ]?(decrypt|recover|restore|back)[-_ ]?(your[-_ ]?|my[-_ ]?|all[-_ ]?)?(files|data)?/i,
  /^[!#_ -]*help[-_ ]?(decrypt|recover|restore|your[-_ ]?files)/i,
  /DECRYPT/,
  /^[!#_ -]*restore[-_ ]?(my[-_ ]?|your[-_ ]?)?files/i,
  /^[!#_ -]*recover[-_ ]?(my[-_ ]?|your[-_ ]?)?(files|data)/i,
  /^!+[-_ ]?read[-_ ]?me/i,
  /^_readme$/i,
  /^[!#_ -]*ransom[-_ ]?note/i,
  /^[!#_ -]*(your|all)[-_ ]?files[-_ ]?(are|were|have[-_ ]?been)[-_ ]?encrypted/i,
];

/** `README_TO_DECRYPT.txt`, `HOW_TO_DECRYPT_FILES.html`, `!!!READ_ME!!!.txt`, `_readme.txt`, `Restore-My-Files.txt`... */
export function isRansomNote(name: string): boolean {
  const ext = extensionOf(name);
  if (!NOTE_EXTENSIONS.has(ext)) return false;
  const stem = ext === '' ? name : name.slice(0, -(ext.length + 1));
  return RANSOM_NOTE_PATTERNS.some((p) => p.test(stem));
}

/** Extensions well-known ransomware families give to the files they encrypted (lowercase, without the dot). */
export const RANSOMWARE_EXTENSIONS: ReadonlySet<string> = new Set([
  'locked', 'encrypted', 'encrypt', 'enciphered', 'crypt', 'crypted', 'cryp1', 'cry', 'locky', 'lockbit', 'locker', 'ryk',
  'ryuk', 'wncry', 'wnry', 'wcry', 'cerber', 'cerber3', 'zepto', 'odin', 'thor', 'conti', 'akira', 'royal', 'ransom',
  'kraken', 'darkness', 'crinf', 'r5a', 'xrnt', 'vvv', 'exx', 'ezz', 'ctbl', 'ctb2', 'coverton', 'lechiffre', 'kencf',
]);

/** Suffixes that make a file into a compressed or archived copy: `a.log` → `a.log.gz` is compression, not ransomware. */
export const COMPRESSION_EXTENSIONS: ReadonlySet<string> = new Set(['gz', 'tgz', 'zst', 'zstd', 'xz', 'bz2', 'lz4', 'lzma', 'br', 'zip', '7z', 'rar', 'z']);

/**
 * Magic numbers of formats whose head is legitimately high-entropy (compressed or image data): a changed file that
 * became one of these was compressed or converted, not encrypted.
 */
export const CONTAINER_MAGICS: readonly Buffer[] = [
  Buffer.from([0x1f, 0x8b]), // gzip
  Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), // zstd
  Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), // xz
  Buffer.from('BZh'), // bzip2
  Buffer.from([0x50, 0x4b, 0x03, 0x04]), // zip, docx, xlsx, jar
  Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), // 7z
  Buffer.from('Rar!'), // rar
  Buffer.from([0x04, 0x22, 0x4d, 0x18]), // lz4
  Buffer.from([0x89, 0x50, 0x4e, 0x47]), // png
  Buffer.from([0xff, 0xd8, 0xff]), // jpeg
  Buffer.from('GIF8'), // gif
  Buffer.from('RIFF'), // webp, wav, avi
  Buffer.from('%PDF'), // pdf
];

export function isContainer(head: Uint8Array): boolean {
  return CONTAINER_MAGICS.some((m) => head.length >= m.length && Buffer.compare(m, head.subarray(0, m.length)) === 0);
}

/** Folders where configuration or web-served files live (any path component). */
export const SENSITIVE_FOLDERS: ReadonlySet<string> = new Set(['config', 'conf', 'etc', 'public', 'www', 'htdocs', 'static', 'public_html', 'wwwroot', 'uploads', 'cgi-bin']);

/** Dependency folders: what a package manager installs there is not a dropped script. */
export const DEPENDENCY_FOLDERS: ReadonlySet<string> = new Set(['node_modules', 'vendor', 'bower_components', 'site-packages', 'dist-packages', '.venv', 'venv', '__pycache__', '.git']);

/** Extensions of scripts and executables a web server or a shell runs. */
export const SCRIPT_EXTENSIONS: ReadonlySet<string> = new Set(['php', 'phtml', 'php5', 'phar', 'sh', 'bash', 'js', 'exe', 'dll', 'so', 'py', 'pl', 'cgi', 'jsp', 'asp', 'aspx', 'bat', 'cmd', 'ps1']);

/** `a/b/x.tar.GZ` → `gz`; `Makefile` and `.env` → '' (a leading dot is a hidden name, not an extension). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 || dot === name.length - 1 ? '' : name.slice(dot + 1).toLowerCase();
}

/** True for a path under a config or web folder, and not under a dependency folder. */
export function inSensitiveFolder(path: string): boolean {
  const dirs = path.split('/').slice(0, -1);
  return dirs.some((d) => SENSITIVE_FOLDERS.has(d.toLowerCase())) && !dirs.some((d) => DEPENDENCY_FOLDERS.has(d.toLowerCase()));
}

export function isScriptName(name: string): boolean {
  return SCRIPT_EXTENSIONS.has(extensionOf(name));
}
