import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DumpRowCounter } from './dump-row-counter.js';

/** A dump in mariadb-dump 10.11's shape, with values made to trip a careless scanner. */
const DUMP = [
  '/*M!999999\\- enable the sandbox mode */ ',
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  '/*!40101 SET NAMES utf8mb4 */;',
  'DROP TABLE IF EXISTS `t`;',
  'CREATE TABLE `t` (',
  '  `id` int(11) NOT NULL,',
  '  `s` text DEFAULT NULL COMMENT \'a (comment); INSERT INTO `x` VALUES (1)\',',
  '  PRIMARY KEY (`id`)',
  ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;',
  'LOCK TABLES `t` WRITE;',
  '/*!40000 ALTER TABLE `t` DISABLE KEYS */;',
  'INSERT INTO `t` VALUES',
  "(1,'a\\nINSERT INTO `x` VALUES (9);',0x0031),",
  "(2,'it\\'s (not) a \\\\',NULL),",
  "(3,'doubled '' quote ); (',b'0101'),",
  "(4,'😀 Zürich \"(\"',-1.5e3);",
  'INSERT INTO `t` VALUES (5,\'\',0x),(6,\'\\\\\',\'\');',
  '/*!40000 ALTER TABLE `t` ENABLE KEYS */;',
  'UNLOCK TABLES;',
  'CREATE TABLE `we``ird ☃` (`a` int);',
  'CREATE TABLE `empty` (`a` int);',
  "INSERT IGNORE INTO `we``ird ☃` (`a`, `VALUES`) VALUES (1,'x'),(2,'y');",
  "REPLACE INTO `we``ird ☃` VALUES(3,'z');",
  'DELIMITER ;;',
  '/*!50003 CREATE*/ /*!50003 TRIGGER tr AFTER INSERT ON t FOR EACH ROW BEGIN',
  'INSERT INTO `t` VALUES (100, \'x\', NULL);',
  'CREATE TABLE `not_a_table` (a int);',
  'END */;;',
  'DELIMITER ;',
  "INSERT INTO `t` VALUES (7,'after the block',NULL);",
  '-- Dump completed',
  '',
].join('\n');

const EXPECTED = { t: 7, 'we`ird ☃': 3, empty: 0 };

test('counts the rows per table of a dump, whatever the chunk boundaries', () => {
  const bytes = Buffer.from(DUMP, 'utf8');
  const whole = new DumpRowCounter();
  whole.push(bytes);
  assert.deepEqual(whole.tables(), EXPECTED);
  const single = new DumpRowCounter();
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  assert.deepEqual(single.tables(), EXPECTED);
  for (let seed = 1; seed <= 50; seed++) {
    const c = new DumpRowCounter();
    let x = seed;
    for (let i = 0; i < bytes.length; ) {
      x = (x * 1103515245 + 12345) >>> 0;
      const n = 1 + (x % 23);
      c.push(bytes.subarray(i, i + n));
      i += n;
    }
    assert.deepEqual(c.tables(), EXPECTED, `seed ${seed}`);
  }
});

test('a dump cut in the middle of a statement counts only finished statements', () => {
  const c = new DumpRowCounter();
  c.push(Buffer.from("CREATE TABLE `t` (\n  `a` int\n);\nINSERT INTO `t` VALUES (1),(2);\nINSERT INTO `t` VALUES (3),('4"));
  assert.deepEqual(c.tables(), { t: 2 });
});

test('scans a large dump quickly', () => {
  const row = `(123456,'${"text with \\'quotes\\' and (parens) ".repeat(8)}',0x${'ab'.repeat(200)}),\n`;
  const body = Buffer.from(`CREATE TABLE \`big\` (\n  \`a\` int\n);\nINSERT INTO \`big\` VALUES\n${row.repeat(20_000)}(0,'',NULL);\n`);
  const c = new DumpRowCounter();
  const start = process.hrtime.bigint();
  for (let i = 0; i < body.length; i += 65536) c.push(body.subarray(i, i + 65536));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  assert.deepEqual(c.tables(), { big: 20_001 });
  const mbps = body.length / 1e6 / seconds;
  assert.ok(mbps > 50, `${mbps.toFixed(0)} MB/s`);
});
