// Bundle the reader workstation with esbuild into static/readerstudy/build/.
//
//   node frontend/build.mjs          # production bundle (minified, with source maps)
//
// Outputs (served by Django's static files):
//   workstation.js                 the page script (ES module): scoring, autosave, first image,
//                                  the bulk pixel data (bulk.js)
//   viewer.js                      the Cornerstone viewer (ES module), which the page script
//                                  loads with import() (the page preloads it)
//   chunk-*.js                     code split out of the entries (esbuild splitting): what they
//                                  share, and the reformat code (reformat.js) that viewer.js
//                                  imports only when a reformat is asked for; beside the entries,
//                                  so import.meta.url-relative paths (wasm/, the worker) still hold
//   manifest.json                  {"viewer": [files to modulepreload for viewer.js, its chunks
//                                  and the reformat chunk]}: the reading page's <link>s
//   reference.js                   the reference drafting page's script (ES module); it loads
//                                  the same viewer.js with import()
//   measure.js                     the measuring page's script (ES module): one viewer.js per
//                                  condition of a case, ROIs synchronised across them
//   comparison.js                  the comparative reading page's script (ES module): one
//                                  viewer.js per viewport, linked scroll, zoom/pan, window
//   decodeImageFrameWorker.js      the DICOM image loader's decode worker; the bundle
//                                  starts it as ./decodeImageFrameWorker.js beside itself
//   wasm/*.wasm                    codecs for compressed transfer syntaxes
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "static", "readerstudy", "build");
const require = createRequire(join(root, "package.json"));

rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, "wasm"), { recursive: true });

const loaderDir = dirname(require.resolve("@cornerstonejs/dicom-image-loader"));
// Node built-ins that Emscripten glue and vtk.js's XML writer mention (EventEmitter comes
// from the "events" package); they are only
// reached under Node, so in the browser they resolve to an empty module.
const nodeBuiltinsEmpty = {
  name: "node-builtins-empty",
  setup(b) {
    b.onResolve({ filter: /^(fs|path|url|crypto|module|worker_threads)$/ }, (args) => ({
      path: args.path,
      namespace: "node-builtin-empty",
    }));
    b.onLoad({ filter: /.*/, namespace: "node-builtin-empty" }, () => ({ contents: "module.exports = {};" }));
  },
};

const common = {
  plugins: [nodeBuiltinsEmpty],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
  legalComments: "linked",
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".wasm": "file" },
};

const pages = await build({
  ...common,
  entryPoints: {
    viewer: join(root, "frontend", "src", "viewer.js"),
    reference: join(root, "frontend", "src", "reference.js"),
    measure: join(root, "frontend", "src", "measure.js"),
    comparison: join(root, "frontend", "src", "comparison.js"),
  },
  splitting: true,
  chunkNames: "chunk-[hash]",
  metafile: true,
  outdir,
});

// What viewer.js needs, statically and (the reformat chunk) dynamically: the page preloads them.
const outputs = pages.metafile.outputs;
const buildPrefix = "static/readerstudy/build/";
const needed = (file, seen) => {
  if (seen.has(file)) return;
  seen.add(file);
  for (const imported of outputs[file]?.imports || []) {
    if (!imported.external) needed(imported.path, seen);
  }
};
const viewerFiles = new Set();
needed(`${buildPrefix}viewer.js`, viewerFiles);
const staticName = (file) => `readerstudy/build/${file.slice(buildPrefix.length)}`;
writeFileSync(
  join(outdir, "manifest.json"),
  JSON.stringify({ viewer: [...viewerFiles].map(staticName) }, null, 1),
);
const sizes = Object.entries(outputs)
  .filter(([file]) => file.endsWith(".js"))
  .map(([file, output]) => `${file.slice(buildPrefix.length)} ${(output.bytes / 1e6).toFixed(2)} MB`);
console.log(`frontend/build.mjs: ${sizes.join(", ")}`);
// The reading page's script on its own, without shared chunks: the page runs it (and starts the
// bulk pixel requests) one round trip sooner than if it first had to fetch the chunks it shares
// with the other pages (bench/workstation.py).
await build({
  ...common,
  entryPoints: { workstation: join(root, "frontend", "src", "workstation.js") },
  outdir,
});
await build({
  ...common,
  entryPoints: { decodeImageFrameWorker: join(loaderDir, "decodeImageFrameWorker.js") },
  outdir,
});

// The codecs' WebAssembly that the loader's decoders request by name (wasmBasePath).
const WASM = [
  "charlswasm_decode.wasm",
  "jpegxlwasm_decode.wasm",
  "libjpegturbowasm_decode.wasm",
  "openjpegwasm_decode.wasm",
  "openjphjs.wasm",
];
const codecs = join(root, "node_modules", "@cornerstonejs");
const found = new Map();
const walk = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path);
    else if (WASM.includes(entry)) found.set(entry, path);
  }
};
for (const name of readdirSync(codecs).filter((n) => n.startsWith("codec-"))) walk(join(codecs, name));
for (const name of WASM) {
  if (!found.has(name)) throw new Error(`frontend/build.mjs: ${name} not found under node_modules/@cornerstonejs`);
  copyFileSync(found.get(name), join(outdir, "wasm", name));
}
console.log(`frontend/build.mjs: bundled the workstation into ${outdir}`);
