// Serves the built Worker (worker/entry.mjs over build/index.js) in workerd through Miniflare on 127.0.0.1, with an
// api.yaml passed as the API_YAML secret, a local Durable Object namespace (GATEWAY_STATE), a local
// KV namespace (UNI_API_KV) and a local D1 database for statistics (STATS_DB).
// Prints "ready on http://127.0.0.1:PORT" when serving; stops on SIGTERM/SIGINT.
// Usage: node scripts/worker-local.mjs (--config PATH | --config-url URL) --port N [--stateless]
//          [--var NAME=VALUE]... [--persist DIR]
//   --config-url  sets CONFIG_URL instead of API_YAML (the Worker fetches and caches it in KV)
//   --persist     keeps KV, D1 and Durable Object state in DIR (default: a fresh temporary folder)
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";

const args = process.argv.slice(2);
const arg = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const configPath = arg("--config");
const configUrl = arg("--config-url");
const port = Number(arg("--port") ?? 8787);
if (!configPath && !configUrl) {
  console.error("usage: worker-local.mjs (--config PATH | --config-url URL) --port N [--stateless] [--var NAME=VALUE]... [--persist DIR]");
  process.exit(2);
}
const stateless = args.includes("--stateless");
const bindings = configPath ? { API_YAML: readFileSync(configPath, "utf8") } : { CONFIG_URL: configUrl };
if (stateless) bindings.DISABLE_DATABASE = "true";
args.forEach((a, i) => {
  if (a === "--var") {
    const [name, ...value] = args[i + 1].split("=");
    bindings[name] = value.join("=");
  }
});

const mf = new Miniflare({
  modules: true,
  scriptPath: "worker/entry.mjs",
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true },
  ],
  compatibilityDate: "2026-04-01",
  bindings,
  kvNamespaces: ["UNI_API_KV"],
  d1Databases: ["STATS_DB"],
  durableObjects: { GATEWAY_STATE: { className: "GatewayState", useSQLite: true } },
  // Fresh, private state for every run unless a folder is given.
  defaultPersistRoot: arg("--persist") ?? mkdtempSync(join(tmpdir(), "uni-api-worker-")),
  host: "127.0.0.1",
  port,
  cf: false,
});
const url = await mf.ready;
console.log(`ready on ${url.origin}`);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await mf.dispose();
    process.exit(0);
  });
}
