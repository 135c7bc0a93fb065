// Reads Zarr v3 arrays with zarrita (an independent reader, for the tests):
//   node zarrita_read.mjs STORE_DIR OUT_DIR ARRAY...
// writes OUT_DIR/<array with / as _>.bin (the elements as zarrita holds
// them, native byte order) and OUT_DIR/meta.json ({array: {shape, stride,
// dtype}}; strides in elements: zarrita keeps an array whose codecs
// transpose it in that memory order). Run from the
// directory zarrita is installed in (zarrita_reader.py copies it there).
import * as zarr from "zarrita";
import FileSystemStore from "@zarrita/storage/fs";
import { writeFileSync } from "node:fs";

const [root, out, ...paths] = process.argv.slice(2);
const store = new FileSystemStore(root);
const meta = {};
for (const p of paths) {
  const arr = await zarr.open.v3(zarr.root(store).resolve(p), { kind: "array" });
  const chunk = await zarr.get(arr);
  const bytes = Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength);
  writeFileSync(`${out}/${p.replaceAll("/", "_")}.bin`, bytes);
  meta[p] = { shape: chunk.shape, stride: chunk.stride, dtype: arr.dtype };
}
writeFileSync(`${out}/meta.json`, JSON.stringify(meta));
