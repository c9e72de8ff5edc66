import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extensionOf, inSensitiveFolder, isContainer, isRansomNote, isScriptName } from './indicators.js';

test('ransom note names are recognised', () => {
  for (const name of ['README_TO_DECRYPT.txt', 'HOW_TO_DECRYPT_FILES.html', 'HOW_TO_DECRYPT.hta', 'DECRYPT_INSTRUCTIONS.txt', '#DECRYPT_MY_FILES#.html',
    'RESTORE_FILES_INFO.txt', 'Restore-My-Files.txt', '!!!READ_ME!!!.txt', '!README!.txt', '_readme.txt', 'HELP_DECRYPT.html', 'How_To_Recover_Files.txt',
    'YOUR_FILES_ARE_ENCRYPTED.txt', 'RECOVER-FILES.html', 'ransom_note.txt']) {
    assert.ok(isRansomNote(name), name);
  }
});

test('ordinary names are not ransom notes', () => {
  for (const name of ['README.md', 'README.txt', 'readme', 'decryption-guide.html', 'decrypt.ts', 'DECRYPT.md', 'restore_files.sh', 'how-to-deploy.txt',
    'CHANGELOG.txt', 'recovery-plan.txt', 'help.html', 'notes.txt', 'disaster-recovery-instructions.txt']) {
    assert.ok(!isRansomNote(name), name);
  }
});

test('extensions: last suffix, lower case; hidden names and names without a dot have none', () => {
  assert.equal(extensionOf('a.tar.GZ'), 'gz');
  assert.equal(extensionOf('report.docx.locked'), 'locked');
  assert.equal(extensionOf('.env'), '');
  assert.equal(extensionOf('Makefile'), '');
  assert.equal(extensionOf('trailing.'), '');
});

test('config and web folders, but not dependency folders', () => {
  assert.ok(inSensitiveFolder('app/public/shell.php'));
  assert.ok(inSensitiveFolder('site/htdocs/img/x.php'));
  assert.ok(inSensitiveFolder('etc/cron.daily/job.sh'));
  assert.ok(inSensitiveFolder('shop/Config/app.js'));
  assert.ok(!inSensitiveFolder('app/src/index.php'));
  assert.ok(!inSensitiveFolder('public'), 'a file named like a folder is not in it');
  assert.ok(!inSensitiveFolder('app/node_modules/lib/config/index.js'));
  assert.ok(!inSensitiveFolder('app/vendor/pkg/public/x.php'));
  assert.ok(isScriptName('x.PHP') && isScriptName('run.sh') && !isScriptName('style.css'));
});

test('container magics: gzip, zip, png; text is none', () => {
  assert.ok(isContainer(Buffer.from([0x1f, 0x8b, 8, 0])));
  assert.ok(isContainer(Buffer.from('PK\x03\x04rest', 'latin1')));
  assert.ok(isContainer(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d])));
  assert.ok(!isContainer(Buffer.from('hello world')));
  assert.ok(!isContainer(Buffer.from([0x1f])));
});
