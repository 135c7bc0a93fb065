// DuckDB (npm @duckdb/node-api) as the independent Parquet writer and
// reader of the Parquet reference tests (duckdb_judge.py runs it).
//   node duckdb_parquet.js write SPEC.json
//     SPEC: [{"rows": ROWS.ndjson, "out": FILE.parq, "compression": "zstd",
//             "row_group_size": N, "version": "V1"|"V2"}]
//     ROWS: one {"path", "offset", "size", "raw" (base64 or null)} a line
//   node duckdb_parquet.js read LIST.json
//     LIST: [FILE.parq, ...]; prints {FILE.parq: [{"path", "offset", "size",
//     "raw" (base64 or null)}, ...] in file order, ...}
'use strict';
const { DuckDBInstance } = require('@duckdb/node-api');

function quote(s) { return "'" + String(s).replace(/'/g, "''") + "'"; }

async function main() {
  const [cmd, arg] = process.argv.slice(2);
  const fs = require('fs');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run('SET threads = 1');  // keep row order as written
  if (cmd === 'write') {
    const specs = JSON.parse(fs.readFileSync(arg, 'utf8'));
    for (const s of specs) {
      const src = `read_json(${quote(s.rows)}, format = 'newline_delimited', ` +
                  `columns = {path: 'VARCHAR', "offset": 'BIGINT', "size": 'BIGINT', raw: 'VARCHAR'})`;
      await con.run(`COPY (SELECT path, "offset", "size", from_base64(raw) AS raw FROM ${src}) ` +
                    `TO ${quote(s.out)} (FORMAT parquet, COMPRESSION ${s.compression}, ` +
                    `ROW_GROUP_SIZE ${s.row_group_size}, PARQUET_VERSION ${s.version})`);
    }
  } else if (cmd === 'read') {
    const out = {};
    for (const file of JSON.parse(fs.readFileSync(arg, 'utf8'))) {
      const r = await con.runAndReadAll(
        `SELECT path, "offset", "size", to_base64(raw) AS raw FROM read_parquet(${quote(file)})`);
      out[file] = r.getRowObjectsJson();
    }
    process.stdout.write(JSON.stringify(out));
  } else {
    throw new Error('usage: duckdb_parquet.js write SPEC.json | read LIST.json');
  }
}

main().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });
